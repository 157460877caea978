"""``neuro cancel``: stop an experiment's queued and running jobs, on whatever engine runs them."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from msc_neuro_cli.errors import NeuroError
from msc_neuro_cli.runs.results import selected_runs
from msc_neuro_cli.runs.status import current_states, state_backend_class
from msc_neuro_cli.store.run_store import RunStore


def cancel_runs(store_path: Path, experiment: str, runs: list[int] | None, regs) -> list[str]:
    """Cancel the experiment's unfinished jobs (only ``runs`` if given); returns the run ids."""
    store = RunStore(store_path)
    selected = selected_runs(store, [experiment])
    if not selected:
        raise NeuroError(f"no stored runs of experiment {experiment!r} in {store.root}")
    if runs:
        selected = [(rid, spec) for rid, spec in selected if spec["run"] in set(runs)]
    states = current_states(store, [rid for rid, _ in selected], regs)
    by_backend: dict[tuple, list] = defaultdict(list)
    cancelled = []
    for rid, _ in selected:
        state = states[str(rid)]
        if state.get("state") not in ("queued", "running"):
            continue
        if state.get("job_id"):
            key = (state.get("backend"), state_backend_class(state.get("backend"), regs, state.get("backend_plugin")))
            by_backend[key].append((rid, state["job_id"]))
        else:  # not handed to an engine yet (a local sweep's pending run): it must not start
            store.update_state(rid, state="cancelled", error="cancelled with `neuro cancel`")
            cancelled.append(str(rid))
    for (name, plugin), items in by_backend.items():
        backend = regs.backends.get(plugin)(name, {})
        backend.cancel(sorted({job for _, job in items}))
        for rid, _ in items:
            store.update_state(rid, state="cancelled", error="cancelled with `neuro cancel`")
            cancelled.append(str(rid))
    return cancelled
