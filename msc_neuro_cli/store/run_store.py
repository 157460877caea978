"""The run store: ``training_data/`` in the thesis pipeline's layout, plus one machine-readable folder per run.

    training_data/
      experiments.txt                                   ledger (see store/ledger.py)
      job_logs/{folder}/{exp}/(o|e)_{run}.log           worker stdout / stderr
      logs/{folder}/{exp}x{run}/{name}__{rep}/summaries/{train,test}/   TensorBoard events
      models/{folder}/{exp}x{run}/{name}__{rep}.keras   one Keras model per repetition
      runs/{folder}/{exp}x{run}/
        spec.json        the frozen run (model, training, dataset): what the worker executes
        state.json       a RunState (runs/lifecycle.py), progress, backend, profile, job id, and the
                         spec's card (what listing runs needs of the spec; see ``read_card``)
        reps/{rep}.json  one finished repetition: seed, curves, per-neuron correlations
        record.json      the finished run: everything above in one file
        checkpoint.npz   replicated weights + optimiser state while training (resume)

Every JSON file is written atomically, so a killed process never leaves half a record.
"""

from __future__ import annotations

import fcntl
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from msc_neuro_cli.errors import StoreError
from msc_neuro_cli.runs.lifecycle import RunState, allowed, state_of
from msc_neuro_cli.store.fsutil import atomic_write_json, read_json
from msc_neuro_cli.store.ledger import LEDGER_NAME

SAFE_COMPONENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.,=+\-\[\]()]*$")
EXP_RUN = re.compile(r"^(.*)x(\d+)$")  # a stored folder name, {exp_name}x{run}


def check_component(value: str, what: str) -> str:
    """A folder, experiment, run or name must be one safe path component."""
    if not isinstance(value, str) or not SAFE_COMPONENT.match(value) or value in (".", "..") or ".." in value:
        raise StoreError(f"{what} {value!r} is not a safe name (letters, digits and _.,=+-[]() only, "
                         "no path separators or '..')")
    return value


def _mapping(value: Any, path: Path | str) -> dict[str, Any]:
    """A store file's JSON must be an object; anything else is damage, named with the file."""
    if not isinstance(value, dict):
        raise StoreError(f"{path}: damaged store file (a JSON object was expected, found "
                         f"{type(value).__name__})")
    return value


def spec_card(spec: dict[str, Any], path: Path | str) -> dict[str, Any]:
    """A run spec's card: its experiment, name, run index, epochs, repetitions and search block
    (None outside a search). A spec without them is damage, named with its file."""
    try:
        card = {"experiment": spec["experiment"], "name": spec["name"], "run": spec["run"],
                "epochs": spec["training"]["epochs"], "reps": len(spec["seeds"]), "search": spec.get("search")}
    except (KeyError, TypeError) as exc:
        raise StoreError(f"{path}: damaged store file (no {exc} in the spec)") from None
    if not isinstance(card["experiment"], str) or not isinstance(card["name"], str):
        raise StoreError(f"{path}: damaged store file (experiment and name must be text)")
    return card


@dataclass(frozen=True)
class RunId:
    """A run's place in the store, ``FOLDER/EXP`` (``str(rid)``).

    The names, used alike in specs, records and the API: ``experiment`` is a manifest's
    experiment key (``spec["experiment"]``, not part of a RunId); ``exp_name`` is the thesis
    pipeline's ``{exp}`` (the manifest's ``exp:``, by default the key); ``exp`` is the stored
    folder name, ``{exp_name}x{run}`` (``spec["exp"]``).
    """

    folder: str
    exp: str       # the stored folder name, e.g. "bs4_exp5x3"
    run: int       # the grid point, 3
    exp_name: str  # the thesis pipeline's {exp} without the run suffix, e.g. "bs4_exp5"

    def __str__(self) -> str:
        return f"{self.folder}/{self.exp}"

    @staticmethod
    def parse(text: str) -> "RunId":
        parts = text.split("/")
        if len(parts) != 2:
            raise StoreError(f"run id {text!r} must look like FOLDER/EXPxRUN")
        folder, exp = (check_component(p, "run id part") for p in parts)
        match = EXP_RUN.match(exp)
        exp_name, run = (match.group(1), int(match.group(2))) if match else (exp, 0)
        return RunId(folder, exp, run, exp_name)


class RunStore:
    """The run store under ``root`` (``training_data/``): its layout and the runs' files."""

    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        self._runs = str(self.root / "runs")  # run_dir is called per run: one Path build, not three
        for folder in (self.root, self.root / "runs"):  # a file here would fail deep inside reads
            if folder.exists() and not folder.is_dir():
                raise StoreError(f"{folder}: is a file, but the run store needs a folder here "
                                 "(pass --store FOLDER)")

    # --- paths ------------------------------------------------------------------------------
    @property
    def ledger(self) -> Path:
        return self.root / LEDGER_NAME

    def run_dir(self, rid: RunId) -> Path:
        return Path(self._runs, rid.folder, rid.exp)

    def _run_file(self, rid: RunId, name: str) -> str:
        """A run's file as text: status reads two per run, and a Path costs more than the read."""
        return f"{self._runs}/{rid.folder}/{rid.exp}/{name}"

    def job_logs(self, rid: RunId) -> tuple[Path, Path]:
        base = self.root / "job_logs" / rid.folder / rid.exp_name
        return base / f"o_{rid.run}.log", base / f"e_{rid.run}.log"

    def log_dir(self, rid: RunId, name: str, rep: int) -> Path:
        return self.root / "logs" / rid.folder / rid.exp / f"{name}__{rep}"

    def model_path(self, rid: RunId, name: str, rep: int) -> Path:
        return self.root / "models" / rid.folder / rid.exp / f"{name}__{rep}.keras"

    def rep_path(self, rid: RunId, rep: int) -> Path:
        return self.run_dir(rid) / "reps" / f"{rep}.json"

    def checkpoint_path(self, rid: RunId) -> Path:
        return self.run_dir(rid) / "checkpoint.npz"

    # --- spec, state, results ------------------------------------------------------------
    def write_spec(self, rid: RunId, spec: dict[str, Any]) -> None:
        """Write the run's spec, and its card into its state (``read_card``). A spec without the
        card's keys (a hand-made one) is written without a card: listing it then reads spec.json,
        which names what is missing."""
        path = self.run_dir(rid) / "spec.json"
        atomic_write_json(path, spec)
        try:
            card = spec_card(spec, path)
        except StoreError:
            return
        stat = os.stat(path)
        card["spec_stat"] = [stat.st_size, stat.st_mtime_ns]
        self.modify_state(rid, lambda current: {"card": card})

    def read_card(self, rid: RunId, state: dict[str, Any]) -> dict[str, Any]:
        """What listing a run needs of its spec (``spec_card``): the card its ``state`` keeps, while
        spec.json has the size and modification time it had when the card was written; otherwise
        (a store from before cards, a spec changed or damaged since) read from spec.json. So
        ``neuro status`` reads one small file per run, and still names a damaged spec."""
        card = state.get("card")
        if isinstance(card, dict):
            try:
                stat = os.stat(self._run_file(rid, "spec.json"))
                if card.get("spec_stat") == [stat.st_size, stat.st_mtime_ns]:
                    return card
            except FileNotFoundError:
                pass
        return spec_card(self.read_spec(rid), self._run_file(rid, "spec.json"))

    def read_spec(self, rid: RunId) -> dict[str, Any]:
        path = self._run_file(rid, "spec.json")
        try:
            return _mapping(read_json(path), path)
        except FileNotFoundError:
            raise StoreError(f"run {rid}: no spec at {path} (was it planned with `neuro run`?)") from None

    def read_state(self, rid: RunId) -> dict[str, Any]:
        path = self._run_file(rid, "state.json")
        try:
            return _mapping(read_json(path), path)
        except FileNotFoundError:
            return {"state": RunState.PLANNED.value}

    def read_known_state(self, rid: RunId) -> dict[str, Any]:
        """``read_state``, and a state the lifecycle does not know is damage too (named with the file)."""
        state = self.read_state(rid)
        try:
            state_of(state)
        except StoreError as exc:
            raise StoreError(f"{self._run_file(rid, 'state.json')}: {exc}") from None
        return state

    def read_states(self, rids) -> tuple[dict[str, dict[str, Any]], dict[str, StoreError]]:
        """The states of many runs by run id text, and apart, the runs whose state.json is damaged
        with the error naming the file (``read_known_state``)."""
        states, damaged = {}, {}
        for rid in rids:
            try:
                states[str(rid)] = self.read_known_state(rid)
            except StoreError as exc:
                damaged[str(rid)] = exc
        return states, damaged

    def update_state(self, rid: RunId, keep: tuple[str, ...] = (), **changes: Any) -> dict[str, Any]:
        """Read-modify-write of state.json under a lock: the CLI and a worker may write at once.

        A ``state`` change the lifecycle does not allow from the current state is dropped (a
        worker stopping after `neuro cancel` must not turn "cancelled" into "interrupted"), as is
        one while the current state is one of ``keep``; the other changes are written.
        """
        if "state" in changes:
            try:
                changes["state"] = RunState(changes["state"]).value
            except ValueError:
                raise ValueError(f"unknown run state {changes['state']!r}") from None

        def change(current: dict[str, Any]) -> dict[str, Any]:
            if current.get("state") in keep:
                return {k: v for k, v in changes.items() if k != "state"}
            return changes
        return self.modify_state(rid, change)

    def modify_state(self, rid: RunId, change, report_changed: bool = False):
        """Apply ``change(current state) -> changes`` under the state lock and write the result.

        Returns the new state (with ``report_changed``: the changes written, {} if none). A state
        move the lifecycle does not allow is dropped with the rest of the changes kept.
        """
        run_dir = self.run_dir(rid)
        run_dir.mkdir(parents=True, exist_ok=True)
        # flock needs no write access: a lock file another user created (the root CLI, for a
        # container's worker) must still open
        fd = os.open(run_dir / ".state.lock", os.O_RDONLY | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            state = self.read_state(rid)
            changes = dict(change(dict(state)) or {})
            if "state" in changes and not allowed(state.get("state") or RunState.PLANNED, changes["state"]):
                del changes["state"]
            if changes:
                state.update(changes, updated=time.time())
                atomic_write_json(run_dir / "state.json", state)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        return changes if report_changed else state

    def finished_reps(self, rid: RunId) -> dict[int, dict[str, Any]]:
        reps_dir = self.run_dir(rid) / "reps"
        done = {}
        if reps_dir.is_dir():
            for path in reps_dir.glob("*.json"):
                if path.stem.isdigit():
                    done[int(path.stem)] = _mapping(read_json(path), path)
        return done

    def write_rep(self, rid: RunId, rep: int, result: dict[str, Any]) -> None:
        atomic_write_json(self.rep_path(rid, rep), result)

    def write_record(self, rid: RunId, record: dict[str, Any]) -> None:
        atomic_write_json(self.run_dir(rid) / "record.json", record)

    def read_record(self, rid: RunId) -> dict[str, Any] | None:
        path = self.run_dir(rid) / "record.json"
        try:
            return _mapping(read_json(path), path)
        except FileNotFoundError:
            return None

    def clear(self, rid: RunId) -> None:
        """Forget a run's results (``--force``): its reps, record, checkpoint and state."""
        run_dir = self.run_dir(rid)
        for path in list((run_dir / "reps").glob("*.json")) if (run_dir / "reps").is_dir() else []:
            path.unlink()
        for name in ("record.json", "checkpoint.npz", "checkpoint.prev.npz", "state.json"):
            try:
                os.unlink(run_dir / name)
            except FileNotFoundError:
                pass

    def remove_temporaries(self, rid: RunId) -> list[Path]:
        """Delete what killed atomic writes left in the run's folders (``.*.tmp``, ``.*.tmp.keras``);
        only the run's owner may call this (a live writer's file would vanish). Returns them."""
        found = []
        for base in (self.run_dir(rid), self.root / "models" / rid.folder / rid.exp):
            if base.is_dir():
                found += [p for pattern in (".*.tmp", ".*.tmp.keras") for p in base.rglob(pattern) if p.is_file()]
        for path in found:
            path.unlink(missing_ok=True)
        return found

    def run_ids(self) -> list[RunId]:
        base = self.root / "runs"
        if not base.is_dir():
            return []
        found = []  # os.scandir, not Path.glob: a store may hold tens of thousands of runs
        for folder in sorted(e.name for e in os.scandir(base) if e.is_dir()):
            for exp in sorted(e.name for e in os.scandir(os.path.join(base, folder)) if e.is_dir()):
                if os.path.exists(os.path.join(base, folder, exp, "spec.json")):
                    found.append(RunId.parse(f"{folder}/{exp}"))
        return found
