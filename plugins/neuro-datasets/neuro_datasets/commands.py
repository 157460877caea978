"""``neuro data ...`` commands registered through the ``register_commands`` hook."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console

from msc_neuro_cli.api import DatasetError

console = Console()
progress_console = Console(stderr=True)  # progress on stderr: stdout stays data


KIND_DEFAULTS = {
    "antolik": {"out": Path("data/synthetic"), "neurons": 100, "train": 1800, "val": 50},
    "static": {"out": Path("data/synthetic_static"), "neurons": 1000, "train": 4472, "val": 522},
}


def synth(
    kind: str = typer.Option("antolik", "--kind", help="antolik: the small Antolik-layout population; "
                             "static: a Sinz-lab static dataset at real scale (36x64 images, tiers, behaviour)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Folder to write (default data/synthetic, "
                                       "or data/synthetic_static for --kind static)."),
    seed: int = typer.Option(0, "--seed", help="Random seed; the same seed gives identical files."),
    neurons: Optional[int] = typer.Option(None, "--neurons", min=1, help="Number of neurons (100; static 1000)."),
    train: Optional[int] = typer.Option(None, "--train", min=2, help="Training images (1800; static 4472)."),
    val: Optional[int] = typer.Option(None, "--val", min=2, help="Validation images (50; static 522)."),
    repeats: int = typer.Option(10, "--repeats", min=1, help="Trials per validation (static: test) image."),
    size: int = typer.Option(31, "--size", min=5, help="Image side in pixels (antolik only; static is 36x64)."),
    test: int = typer.Option(100, "--test", min=2, help="Test images, each shown --repeats times (static only)."),
):
    """Generate a synthetic V1 dataset with a known ground truth.

    [bold]--kind antolik[/bold] (default): dead-leaves images, simple/complex cells, Poisson-like noise,
    in the Antolik layout. [bold]--kind static[/bold]: the Sinz-lab static layout at the scale of a real
    scan (docs/datasets.md), with the true noise ceiling in ground_truth.json.

    Example: [bold]neuro data synth --out data/synth_s1 --seed 1 --neurons 50[/bold],
    [bold]neuro data synth --kind static[/bold]
    """
    if kind not in KIND_DEFAULTS:
        raise DatasetError(f"data synth: --kind must be one of {', '.join(KIND_DEFAULTS)}, got {kind!r}")
    defaults = KIND_DEFAULTS[kind]
    out = out or defaults["out"]
    neurons, train, val = (v if v is not None else defaults[k] for k, v in
                           (("neurons", neurons), ("train", train), ("val", val)))
    if kind == "static":
        return synth_static(out, seed, neurons, train, val, test, repeats)
    from .synthetic import generate, write

    with console.status("generating synthetic dataset"):
        data = generate(seed=seed, n_train=train, n_val=val, repeats=repeats, n_neurons=neurons, size=size)
        meta = write(data, out)
    console.print(f"wrote {out} ({neurons} neurons, {train} training and {val}x{repeats} validation images, "
                  f"{size}x{size} px); ceiling (mean r of true rates vs trial average): "
                  f"{meta['ceiling']['mean_correlation_rates_vs_trial_average']:.3f}")


def synth_static(out: Path, seed: int, neurons: int, train: int, val: int, test: int, repeats: int) -> None:
    """``neuro data synth --kind static``: generate and write with a progress bar per stage."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from .static_synth import generate_static, write_static

    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=progress_console, transient=True) as bar:
        tasks: dict[str, int] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done)

        data = generate_static(seed=seed, neurons=neurons, n_train=train, n_val=val, n_test=test,
                               repeats=repeats, progress=progress)
        meta = write_static(data, out, progress)
    ceiling = meta["ceiling"]
    console.print(f"wrote {out} (static layout: {neurons} neurons, {train} training, {val} validation and "
                  f"{test}x{repeats} test trials of 36x64 images); true ceiling, median over neurons: "
                  f"{ceiling['trial_average']['median']:.3f} to the trial average, "
                  f"{ceiling['single_trial']['median']:.3f} single-trial ({out / 'ground_truth.json'})")


def fetch(
    dataset: str = typer.Argument(..., help="Dataset to download: antolik2016."),
    dest: Path = typer.Option(Path("."), "--dest", help="Folder that receives Data/region{1,2,3}/."),
    url: Optional[str] = typer.Option(None, "--url", help="Mirror URL or a local copy of the zip (default: PLOS)."),
):
    """Download a published dataset, verify every file, then move it into place.

    Example: [bold]neuro data fetch antolik2016 --dest datasets/antolik[/bold], then use
    [bold]dataset: {name: antolik2016, path: datasets/antolik}[/bold] in experiments.yaml.
    An interrupted download resumes when the command is run again.
    """
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn


    from .fetch import ANTOLIK_URL, fetch_antolik2016

    if dataset != "antolik2016":
        raise DatasetError(f"data fetch: unknown dataset {dataset!r} (available: antolik2016)")
    with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                  TransferSpeedColumn(), console=progress_console, transient=True) as bar:
        task = bar.add_task("antolik2016", total=None)
        target = fetch_antolik2016(dest, url or ANTOLIK_URL,
                                   progress=lambda done, total: bar.update(task, completed=done, total=total))
    console.print(f"verified and installed {target}")


SHORT = {"normalised_noise_power": "noise power", "explainable_variance_fraction": "explainable",
         "oracle_jackknife": "oracle jk", "oracle_conservative": "oracle cons", "cc_max": "CCmax"}
PARAM_HELP = "Dataset parameter as key=value (repeatable), e.g. --param regions=[1,2]."


def pack(
    source: str = typer.Argument(..., help="Registered dataset name (see `neuro plugins`)."),
    out: Path = typer.Argument(..., help="HDF5 file to write."),
    param: List[str] = typer.Option([], "--param", "-p", help=PARAM_HELP),
):
    """Write a dataset (arrays, splits, repeats, metadata, checksums, provenance) to one HDF5 file.

    Example: [bold]neuro data pack antolik2016 antolik.h5 -p path=datasets/antolik -p regions=[1,2,3][/bold],
    then [bold]dataset: {name: hdf5, path: antolik.h5}[/bold] in experiments.yaml.
    """
    import time

    from . import __name__ as package
    from .describe import open_source
    from .hdf5 import pack as write_pack

    name, src = open_source(source, param)
    data = src.load()
    provenance = {"source": name, "params": src.params, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                  "packed_by": package, "source_checksum": data.checksum()}
    sums = write_pack(data, out, provenance)
    console.print(f"wrote {out}: {data.train_x.shape[0]} training and {data.val_x.shape[0]} validation images, "
                  f"{data.n_neurons} neurons, {len(sums)} arrays")


def info(
    dataset: str = typer.Argument(..., help="Registered dataset name, or a .h5 file from `neuro data pack`."),
    param: List[str] = typer.Option([], "--param", "-p", help=PARAM_HELP),
):
    """Print a dataset's arrays (shape, range) and each region's reliability (noise ceilings).

    Example: [bold]neuro data info synthetic[/bold] or
    [bold]neuro data info antolik2016 -p path=datasets/antolik -p regions=[1,2,3][/bold]
    """
    from rich.table import Table

    from .describe import RELIABILITY, array_rows, open_source, reliability

    name, src = open_source(dataset, param)
    data = src.load()
    table = Table(title=f"{name}: images {data.input_dims}, regions "
                        + ", ".join(f"{r} ({n} neurons)" for r, n in data.regions))
    for column in ("array", "shape", "dtype", "min", "max", "mean"):
        table.add_column(column, justify="left" if column in ("array", "shape", "dtype") else "right")
    for row in array_rows(data):
        table.add_row(*row[:3], *(f"{v:.4g}" for v in row[3:]))
    console.print(table)
    rows = reliability(data)
    if not rows:
        console.print("no raw validation repeats: reliability cannot be computed")
        return
    ceil = Table(title="reliability (mean over neurons; docs/metrics.md)")
    for column in ("region", "neurons", "repeats", *RELIABILITY):
        ceil.add_column(SHORT.get(column, column), justify="left" if column == "region" else "right")
    for row in rows:
        ceil.add_row(row["region"], str(row["neurons"]), "" if row["repeats"] is None else str(row["repeats"]),
                     *(f"{row[k]:.3f}" for k in RELIABILITY))
    console.print(ceil)


COMMANDS = {
    "data synth": synth,
    "data fetch": fetch,
    "data pack": pack,
    "data info": info,
}
