"""Loading finished runs from a run store, ours or the thesis pipeline's, into plain objects.

Two sources, one shape (:class:`Run` with its :class:`Repetition` s):

- ``store``: runs written by ``neuro worker`` (``runs/{folder}/{exp}/spec.json`` and
  ``reps/{rep}.json``): hyperparameters, per-neuron correlations, curves, models.
- ``seed``: lines of ``experiments.txt`` with no ``runs/`` folder, i.e. written by the thesis pipeline's own
  pipeline: only TensorBoard events (``logs/{folder}/{exp}/{time}_{name}__{i}/summaries/test``),
  from which curves and final correlations are read. No hyperparameters, no per-neuron values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from msc_neuro_cli.api import RunId, RunStore, StoreError, ledger_entries, load_manifest

from . import events


@dataclass
class Repetition:
    rep: int
    seed: int | None
    val_correlation: float
    train_correlation: float | None = None
    seconds: float | None = None
    epochs: int | None = None
    val_per_neuron: np.ndarray | None = None
    train_per_neuron: np.ndarray | None = None
    curve: list[dict[str, Any]] = field(default_factory=list)  # epoch, loss, train/val correlation
    model: Path | None = None
    test: dict[str, Any] | None = None  # test-tier scores (datasets with tiers, metrics/tier_scores.py)


@dataclass
class Run:
    run_id: str                 # FOLDER/EXP (EXP already suffixed: bs3_exp5x3)
    experiment: str             # the manifest's key (bs3_exp5); for a thesis-pipeline run its exp name
    folder: str
    exp: str                    # the stored folder name, {exp name}x{run} (bs3_exp5x3)
    run: int
    name: str
    hyperparameters: dict[str, Any]
    source: str                 # "store", or "seed": a run of the thesis pipeline (value kept for exports)
    state: str
    reps: list[Repetition]
    spec: dict[str, Any] | None = None
    record: dict[str, Any] | None = None

    @property
    def label(self) -> str:
        return f"{self.exp} {self.name}"

    @property
    def tick(self) -> str:
        """Two-line label for box plots' x axes."""
        return f"{self.exp}\n{self.name}"

    def finals(self, tier: str = "validation") -> np.ndarray:
        """Each repetition's final correlation on ``tier``: validation, or test (to the trial
        average, scored once with the restored weights; NaN for a repetition without it)."""
        if tier == "test":
            return np.array([test_score(r, "correlation") for r in self.reps], dtype=np.float64)
        return np.array([r.val_correlation for r in self.reps], dtype=np.float64)

    @property
    def has_test_scores(self) -> bool:
        return bool(self.reps) and all(np.isfinite(test_score(r, "correlation")) for r in self.reps)


def test_score(rep: Repetition, metric: str) -> float:
    """One test-tier metric of a repetition, NaN where it has none."""
    value = (rep.test or {}).get(metric)
    return float(value) if isinstance(value, (int, float)) else float("nan")


def load_runs(store_root: Path, include_seed: bool = True) -> list[Run]:
    """Every run with at least one finished repetition, ours first, then the thesis pipeline's."""
    store = RunStore(Path(store_root))
    if not store.root.is_dir():
        raise StoreError(f"run store {store.root} does not exist (give --store or NEURO_STORE)")
    runs = [run for rid in store.run_ids() if (run := _store_run(store, rid)).reps]
    if include_seed:
        known = {r.run_id for r in runs}
        runs += _seed_runs(store, known)
    return runs


def _store_run(store: RunStore, rid: RunId) -> Run:
    spec = store.read_spec(rid)
    reps = []
    for rep, result in sorted(store.finished_reps(rid).items()):
        where = f"{store.rep_path(rid, rep)}"
        try:
            reps.append(Repetition(
                rep=rep, seed=result.get("seed"), val_correlation=float(result["val_correlation"]),
                train_correlation=_float(result.get("train_correlation")),
                seconds=_float(result.get("seconds")), epochs=result.get("epochs"),
                val_per_neuron=_array(result.get("val_correlation_per_neuron")),
                train_per_neuron=_array(result.get("train_correlation_per_neuron")),
                curve=list(result.get("curve") or []),
                model=store.root / result["model"] if result.get("model") else None,
                test=result["test"] if isinstance(result.get("test"), dict) else None))
        except (KeyError, TypeError, ValueError) as exc:
            raise StoreError(f"{where}: malformed repetition result ({type(exc).__name__}: {exc})") from None
        if not reps[-1].curve:  # fall back to the TensorBoard events
            reps[-1].curve = _event_curve(store.log_dir(rid, spec["name"], rep) / "summaries")
    return Run(str(rid), spec["experiment"], spec["folder"], spec["exp"], int(spec["run"]), spec["name"],
               dict(spec.get("hyperparameters") or {}), "store", store.read_state(rid).get("state", "planned"),
               reps, spec, store.read_record(rid))


def _seed_runs(store: RunStore, known: set[str]) -> list[Run]:
    runs = []
    entries = ledger_entries(store.ledger)
    counts: dict[str, int] = {}
    for entry in entries:
        parts = entry.split("/")
        if len(parts) == 3:
            counts[f"{parts[0]}/{parts[1]}"] = counts.get(f"{parts[0]}/{parts[1]}", 0) + 1
    for line_no, entry in enumerate(entries, 1):
        parts = entry.split("/")
        if len(parts) != 3:
            raise StoreError(f"{store.ledger}: entry {line_no} {entry!r} is not FOLDER/EXP/NAME")
        folder, exp, name = parts
        rid = RunId.parse(f"{folder}/{exp}")
        if str(rid) in known:
            continue  # ours: already loaded from runs/
        rep_dirs = events.repetition_dirs(store.root / "logs" / folder / exp, name)
        reps = []
        for i, rep_dir in rep_dirs.items():
            test = events.read_scalars(events.summaries(rep_dir, "test"))
            if not test:
                continue
            train = {s.step: s.value for s in events.read_scalars(events.summaries(rep_dir, "train"))}
            loss = {s.step: s.value for s in events.read_scalars(events.summaries(rep_dir, "train"), events.LOSS_TAG)}
            curve = [{"epoch": s.step, "loss": loss.get(s.step), "train_correlation": train.get(s.step),
                      "val_correlation": s.value} for s in test]
            reps.append(Repetition(
                rep=i, seed=i, val_correlation=test[-1].value, train_correlation=train.get(test[-1].step),
                seconds=test[-1].wall_time - test[0].wall_time, epochs=test[-1].step + 1, curve=curve))
        if reps:
            run_id = str(rid) if counts.get(str(rid), 0) == 1 else f"{rid}/{name}"
            runs.append(Run(run_id, rid.exp_name, folder, exp, rid.run, name, {}, "seed", "finished", reps))
    return runs


def _event_curve(summaries: Path) -> list[dict[str, Any]]:
    test = events.read_scalars(summaries / "test")
    train = {s.step: s.value for s in events.read_scalars(summaries / "train")}
    return [{"epoch": s.step, "loss": None, "train_correlation": train.get(s.step), "val_correlation": s.value}
            for s in test]


def _float(value) -> float | None:
    return None if value is None else float(value)


def _array(value) -> np.ndarray | None:
    return None if value is None else np.asarray(value, dtype=np.float64)


# --- choosing runs ---------------------------------------------------------------------------
def aliases_from_manifest(manifest: Path | None) -> dict[str, str]:
    """Alias -> experiment key from a manifest, if one is given and exists ({} otherwise)."""
    if manifest is None or not Path(manifest).is_file():
        return {}
    return dict(load_manifest(Path(manifest)).aliases)


def select(runs: list[Run], tokens: Iterable[str] | None, aliases: dict[str, str] | None = None,
           where: str = "the store") -> list[Run]:
    """Runs matching any token: an experiment key or alias, ``FOLDER/EXPxRUN``, or ``EXPxRUN``.

    No tokens selects every run. A token that matches nothing is an error naming what exists.
    """
    tokens = list(tokens or [])
    if not tokens:
        return list(runs)
    aliases = aliases or {}
    chosen: list[Run] = []
    for token in tokens:
        key = aliases.get(token, token)
        hits = [r for r in runs if key in (r.experiment, r.run_id, r.exp) or
                (r.source == "seed" and token == f"{r.folder}/{r.exp}/{r.name}")]
        if not hits:
            known = sorted({r.experiment for r in runs})
            raise StoreError(f"no finished runs of {token!r} in {where} "
                             f"(experiments there: {', '.join(known) or 'none'})")
        chosen.extend(r for r in hits if r not in chosen)
    return chosen


def filter_runs(runs: list[Run], only: Iterable[str] | None) -> list[Run]:
    """``--runs``: keep runs given by index (3), EXPxRUN (bs3_exp5x3) or FOLDER/EXPxRUN."""
    only = [str(o) for o in (only or [])]
    if not only:
        return runs
    kept = []
    for token in only:
        hits = [r for r in runs if token in (r.run_id, r.exp) or (token.isdigit() and r.run == int(token))]
        if not hits:
            raise StoreError(f"--runs {token!r} matches none of the selected runs "
                             f"({', '.join(r.exp for r in runs)})")
        kept.extend(r for r in hits if r not in kept)
    return kept


def run_order(run: Run) -> tuple:
    return (run.source != "store", run.experiment, run.run, run.run_id)

