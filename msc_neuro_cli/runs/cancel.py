"""``neuro cancel``: stop an experiment's queued and running jobs, on whatever engine runs them.

Each job is cancelled through the backend its run was submitted to, rebuilt with the profile
recorded in the run's state (runs/lifecycle.py).
"""

from __future__ import annotations

from pathlib import Path

from msc_neuro_cli.errors import NeuroError
from msc_neuro_cli.runs import lifecycle
from msc_neuro_cli.runs.results import selected_runs
from msc_neuro_cli.store.run_store import RunStore


def cancel_runs(store_path: Path, experiment: str, runs: list[int] | None, regs) -> list[str]:
    """Cancel the experiment's unfinished jobs (only ``runs`` if given); returns the run ids."""
    store = RunStore(store_path)
    selected = selected_runs(store, [experiment])
    if not selected:
        raise NeuroError(f"no stored runs of experiment {experiment!r} in {store.root}")
    if runs:
        selected = [(rid, spec) for rid, spec in selected if spec["run"] in set(runs)]
    states = lifecycle.current_states(store, [rid for rid, _ in selected], regs)
    by_engine: dict[tuple, list] = {}
    cancelled = []
    for rid, _ in selected:
        state = states[str(rid)]
        if lifecycle.state_of(state) not in lifecycle.ACTIVE:
            continue
        if state.get("job_id"):
            by_engine.setdefault(lifecycle.engine_key(state), []).append((rid, state))
        else:  # not handed to an engine yet (a local sweep's pending run): it must not start
            lifecycle.cancelled(store, rid)
            cancelled.append(str(rid))
    for items in by_engine.values():
        backend = lifecycle.backend_for(items[0][1], regs)
        if backend is not None:
            backend.cancel(sorted({state["job_id"] for _, state in items}))
        for rid, _ in items:
            lifecycle.cancelled(store, rid)
            cancelled.append(str(rid))
    return cancelled
