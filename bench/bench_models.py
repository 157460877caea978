"""Benchmark five model families on the embedded synthetic dataset at one equal training budget.

Trains every experiment of bench/models.yaml through the real CLI (`python -m msc_neuro_cli run`),
reads the finished records back from the run store, and prints the median and 90th/10th
percentile (over repetitions) of the validation correlation (mean over neurons of the Pearson
correlation with the trial-averaged validation responses), each median relative to the dataset's
noise ceiling. Not a test: it takes minutes. See docs/model-benchmark.md.

    .venv/bin/python bench/bench_models.py             # the budget written in bench/models.yaml
    .venv/bin/python bench/bench_models.py --quick     # 2 epochs x 2 repetitions: a smoke run
    .venv/bin/python bench/bench_models.py --epochs 200 --reps 10 --store /tmp/bench200

The store defaults to <tmp>/neuro-bench/e{epochs}_r{reps}; re-running with the same budget
reuses finished runs (the CLI skips them) unless --force is given.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
MANIFEST = BENCH_DIR / "models.yaml"
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from msc_neuro_cli.metrics import ceilings  # noqa: E402
from msc_neuro_cli.metrics.correlation import summarise  # noqa: E402
from msc_neuro_cli.store.run_store import RunStore  # noqa: E402

LABELS = {"hsm": "HSM (Baseline 4 settings)", "lnln": "LNLN", "conv_sep": "conv + separable readout",
          "klindt": "Klindt et al. 2017 (16 filters)", "gaussian_readout": "Gaussian readout (16 filters)",
          "klindt48": "Klindt et al. 2017 (48 filters)", "gaussian_readout48": "Gaussian readout (48 filters)"}
DEFAULT = ["hsm", "lnln", "conv_sep", "klindt", "gaussian_readout"]
FULL = {"klindt": "klindt48", "gaussian_readout": "gaussian_readout48"}  # --full: experiments.yaml's sizes
QUICK = {"epochs": 2, "reps": 2}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, help="training epochs of every model (default: the manifest's)")
    parser.add_argument("--reps", type=int, help="repetitions (seeds) per model (default: the manifest's)")
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke run: {QUICK['epochs']} epochs x {QUICK['reps']} repetitions")
    parser.add_argument("--store", type=Path, help="run store (default <tmp>/neuro-bench/e{epochs}_r{reps})")
    parser.add_argument("--full", action="store_true",
                        help="the full-size Klindt and Gaussian-readout networks (48 filters; slow on a CPU)")
    parser.add_argument("--models", nargs="+", choices=list(LABELS), metavar="EXP",
                        help=f"only these experiments of bench/models.yaml ({', '.join(LABELS)})")
    parser.add_argument("--force", action="store_true", help="retrain runs already finished in the store")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--early-stopping", action="store_true",
                        help=f"train each model until early stopping ends it ({EARLY_STOPPING}), "
                             "--epochs being the cap: models compared near convergence")
    parser.add_argument("--xla", action="store_true", help="compile with XLA (fast for the HSM and LNLN, "
                        "minutes of compilation for the conv models on a CPU)")
    args = parser.parse_args(argv)
    for key in ("epochs", "reps"):
        value = getattr(args, key)
        if value is not None and value < 1:
            parser.error(f"--{key} must be at least 1, got {value}")
    return args


EARLY_STOPPING = {"validation_fraction": 0.1, "patience": 5, "check_every": 10, "lr_decay_steps": 1,
                  "lr_decay_factor": 0.3, "restore_best": True}


def load_manifest() -> dict:
    with open(MANIFEST, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def budgeted_manifest(manifest: dict, epochs: int, reps: int, store: Path, extra_training: dict | None = None) -> Path:
    """The manifest itself when the budget is its own, else a copy (in the store) with that budget
    and ``extra_training`` options (early stopping, XLA).

    The copy lives outside bench/, so the dataset path is made absolute.
    """
    defaults = manifest["defaults"]
    if defaults["training"]["epochs"] == epochs and defaults["repetitions"] == reps and not extra_training \
            and not any("training" in e or "repetitions" in e for e in manifest["experiments"].values()):
        return MANIFEST
    copy = json.loads(json.dumps(manifest))
    copy["defaults"]["training"]["epochs"] = epochs
    copy["defaults"]["training"].update(extra_training or {})
    copy["defaults"]["repetitions"] = reps
    for exp in copy["experiments"].values():
        exp.get("training", {}).pop("epochs", None)
        exp.pop("repetitions", None)
    dataset = copy["defaults"]["dataset"]
    dataset["path"] = str((BENCH_DIR / dataset["path"]).resolve())
    store.mkdir(parents=True, exist_ok=True)
    path = store / f"models_e{epochs}_r{reps}.yaml"
    path.write_text("# written by bench/bench_models.py from bench/models.yaml\n"
                    + yaml.safe_dump(copy, sort_keys=False), encoding="utf-8")
    return path


def run_experiment(name: str, manifest: Path, store: Path, force: bool) -> float:
    """Train one experiment with the CLI (the local backend, one worker); return the wall time."""
    cmd = [sys.executable, "-m", "msc_neuro_cli", "run", name, "--manifest", str(manifest),
           "--store", str(store), "--backend", "local", "--jobs", "1"]
    if force:
        cmd.append("--force")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"))
    started = time.time()
    print(f"$ {' '.join(cmd)}", flush=True)
    result = subprocess.run(cmd, cwd=REPO, env=env)
    if result.returncode != 0:
        raise SystemExit(f"bench: `neuro run {name}` failed with exit code {result.returncode} (a store trained "
                         "with another manifest needs --force or another --store)")
    return time.time() - started


def _run_ids(rs: RunStore, name: str) -> list:
    # bench/models.yaml sets no exp:, so a run's exp_name is its experiment key
    return [rid for rid in rs.run_ids() if rid.exp_name == name]


def _finished(store: Path, name: str) -> bool:
    rs = RunStore(store)
    runs = _run_ids(rs, name)
    return bool(runs) and all(rs.read_record(rid) is not None for rid in runs)


def records(store: Path, name: str) -> list[dict]:
    """The finished records of one experiment (one run each here)."""
    rs = RunStore(store)
    found = [rs.read_record(rid) for rid in _run_ids(rs, name)]
    found = [r for r in found if r is not None]
    if not found:
        raise SystemExit(f"bench: no finished record of {name} in {store}/runs")
    return found


def dataset_ceilings(manifest: dict) -> dict:
    """Noise ceilings of the benchmark's dataset, mean over neurons.

    cc_max: Schoppe et al.'s CCmax from the raw validation repeats alone (the highest correlation
    with the trial average any model can reach); truth: the correlation of the generator's
    noise-free rates with the trial average, computed here and as stored in meta.json.
    """
    root = (BENCH_DIR / manifest["defaults"]["dataset"]["path"]).resolve()
    region = root / "Data" / "region1"
    raw = np.load(region / "raw_validation_set.npy", allow_pickle=False)
    val = np.load(region / "validation_set.npy", allow_pickle=False)
    rates = np.load(root / "ground_truth" / "validation_rates.npy", allow_pickle=False)
    if not np.allclose(raw.mean(axis=0), val, atol=1e-5):
        raise SystemExit(f"bench: {region}/validation_set.npy is not the mean of raw_validation_set.npy")
    meta = json.loads((root / "meta.json").read_text(encoding="utf-8"))
    return {"cc_max": ceilings.nanmean(ceilings.cc_max(raw)),
            "truth": ceilings.nanmean(ceilings.cc_abs(raw, rates)),
            "truth_meta": float(meta["ceiling"]["mean_correlation_rates_vs_trial_average"]),
            "cc_max_per_neuron": ceilings.cc_max(raw), "repeats": raw.shape[0]}


def summary_row(name: str, recs: list[dict], ceil: dict) -> dict:
    reps = [r for rec in recs for r in rec["repetitions"]]
    stats = summarise(r["val_correlation"] for r in reps)
    # CCnorm per repetition: mean over neurons of (correlation / that neuron's CCmax)
    ccnorm = [ceilings.nanmean(np.asarray(r["val_correlation_per_neuron"], np.float64) / ceil["cc_max_per_neuron"])
              for r in reps]
    seconds = sum(rec["worker_seconds"] for rec in recs) / len(reps)
    trained = [r.get("early_stopping", {}).get("epochs_trained", r["epochs"]) for r in reps]
    return {"experiment": name, "model": LABELS.get(name, name), "reps": len(reps),
            "epochs": float(np.median(trained)), **stats, "rel_ccmax": stats["median"] / ceil["cc_max"],
            "rel_truth": stats["median"] / ceil["truth"], "ccnorm": float(np.median(ccnorm)),
            "train_corr": float(np.median([r["train_correlation"] for r in reps])),
            "seconds_per_rep": seconds}


COLUMNS = [("model", "model", "{}"), ("median", "median", "{:.3f}"), ("p90", "90th", "{:.3f}"),
           ("p10", "10th", "{:.3f}"), ("rel_ccmax", "median/CCmax", "{:.2f}"),
           ("rel_truth", "median/true", "{:.2f}"), ("ccnorm", "CCnorm", "{:.2f}"),
           ("train_corr", "train", "{:.3f}"), ("epochs", "epochs", "{:.0f}"), ("seconds_per_rep", "s/rep", "{:.0f}")]


def format_table(rows: list[dict], markdown: bool) -> str:
    cells = [[fmt.format(row[key]) for key, _, fmt in COLUMNS] for row in rows]
    heads = [head for _, head, _ in COLUMNS]
    if markdown:
        rule = "|" + "|".join("---" if i == 0 else "---:" for i in range(len(heads))) + "|"
        lines = ["| " + " | ".join(heads) + " |", rule]
        lines += ["| " + " | ".join(c) + " |" for c in cells]
        return "\n".join(lines)
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(heads)]
    fmt_line = lambda items: "  ".join(x.ljust(w) if i == 0 else x.rjust(w)  # noqa: E731
                                       for i, (x, w) in enumerate(zip(items, widths)))
    return "\n".join([fmt_line(heads), fmt_line(["-" * w for w in widths])] + [fmt_line(c) for c in cells])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    manifest = load_manifest()
    epochs = args.epochs or (QUICK["epochs"] if args.quick else manifest["defaults"]["training"]["epochs"])
    reps = args.reps or (QUICK["reps"] if args.quick else manifest["defaults"]["repetitions"])
    extra = {**({"early_stopping": EARLY_STOPPING} if args.early_stopping else {}),
             **({"xla": True} if args.xla else {})}
    tag = ("_es" if args.early_stopping else "") + ("_xla" if args.xla else "")
    store = (args.store or Path(tempfile.gettempdir()) / "neuro-bench" / f"e{epochs}_r{reps}{tag}").resolve()
    names = args.models or [FULL.get(n, n) if args.full else n for n in DEFAULT]
    run_manifest = budgeted_manifest(manifest, epochs, reps, store, extra)

    walls = {}
    for name in names:
        reused = not args.force and _finished(store, name)
        wall = run_experiment(name, run_manifest, store, args.force)
        walls[name] = "reused" if reused else f"{wall:.0f}"
    ceil = dataset_ceilings(manifest)
    rows = [summary_row(name, records(store, name), ceil) for name in names]

    print()
    print(f"Validation correlation on the synthetic dataset (data/synthetic, {reps} repetitions per model),")
    train = manifest["defaults"]["training"]
    if args.early_stopping:
        print(f"every model trained until early stopping ended it (at most {epochs} epochs; {EARLY_STOPPING}), "
              f"batch {train['batch_size']}, Adam lr {train['learning_rate']:g}, {train['loss']} loss; "
              "epochs: median epochs trained.")
    else:
        print(f"every model trained for the same budget: {epochs} epochs, batch {train['batch_size']}, "
              f"Adam lr {train['learning_rate']:g}, {train['loss']} loss.")
        print("Equal budget, not convergence: the numbers rank the models at this budget only.")
    print(f"Noise ceiling: CCmax (Schoppe et al. 2016, from the {ceil['repeats']} raw repeats) = {ceil['cc_max']:.3f}; "
          f"ground truth (noise-free rates vs trial average) = {ceil['truth']:.3f} "
          f"(meta.json: {ceil['truth_meta']:.3f}).")
    print("median/CCmax and median/true: the median over repetitions divided by those ceilings; CCnorm: "
          "median over repetitions of the mean over neurons of corr_n / CCmax_n.")
    print(f"s/rep: worker wall time / repetitions (repetitions train together, one replica group per core); "
          f"store: {store}")
    print()
    print(format_table(rows, args.markdown))
    print()
    print("wall time of this invocation per experiment (s, including CLI start-up; 'reused': finished "
          "earlier in this store): " + ", ".join(f"{n} {w}" for n, w in walls.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
