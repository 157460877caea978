"""``neuro run``: plan an experiment, freeze its runs in the store, hand them to a backend."""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from msc_neuro_cli.errors import ManifestError, NeuroError
from msc_neuro_cli.plain_table import PLAIN_FROM, plain_table
from msc_neuro_cli.runs import lifecycle
from msc_neuro_cli.runs.backend import Backend, Submission
from msc_neuro_cli.runs.claim import pause_point, submission_lock
from msc_neuro_cli.runs.lifecycle import ACTIVE, RETRYABLE, TERMINAL, RunState, state_of
from msc_neuro_cli.spec.manifest import load_manifest
from msc_neuro_cli.spec.overrides import explain, parse_override
from msc_neuro_cli.spec.plan import RunPlan, plan_experiment, plan_search_bounds
from msc_neuro_cli.runs.profiles import parse_overrides, resolve_backend
from msc_neuro_cli.runs.results import run_summaries
from msc_neuro_cli.store.run_store import RunStore


def _check_datasets(plans: list[RunPlan], regs, exp) -> None:
    """Fail before anything is written if a dataset's files are missing; name the manifest place."""
    where = f"{exp.where.file}:{exp.dataset.line}: experiments.{exp.key}.dataset"
    seen = set()
    for plan in plans:
        dspec = plan.spec["dataset"]
        key = (dspec["name"], repr(sorted(dspec["params"].items())))
        if key in seen:
            continue
        seen.add(key)
        source = regs.datasets.get(dspec["name"])(dspec["params"], Path(dspec["base_dir"]))
        try:
            source.check()
        except NeuroError as exc:
            raise type(exc)(f"{where} ({dspec['name']}): {exc}") from None


def print_plan(plans: list[RunPlan], store: RunStore, console: Console) -> None:
    headers = ["run id", "name", "hyperparameters", "reps", "epochs", "state"]
    rows = []
    for plan in plans:
        hp = ", ".join(f"{k}={v}" for k, v in plan.values.items()) or "-"
        try:
            state = state_of(store.read_known_state(plan.run_id)).value
        except NeuroError:
            state = "corrupt"  # `neuro run` names the file and skips the run
        rows.append([str(plan.run_id), plan.name, hp, str(len(plan.seeds)), str(plan.spec["training"]["epochs"]), state])
    if len(rows) >= PLAIN_FROM:  # a big sweep: Rich's layout costs 1-2 ms a row
        console.file.write(f"plan: {len(plans)} runs\n" + plain_table(headers, rows))
        return
    table = Table(title=f"plan: {len(plans)} runs")
    for col in headers:
        table.add_column(col)
    for row in rows:
        table.add_row(*map(escape, row))  # names and values may hold "[...]": text, not markup
    console.print(table)


def print_results(store: RunStore, plans: list[RunPlan], console: Console) -> None:
    rows = run_summaries(store, [(p.run_id, p.spec) for p in plans])
    table = Table(title="validation correlation over repetitions")
    for col in ("run id", "name", "reps", "median", "90th", "10th"):
        table.add_column(col, justify="right" if col in ("median", "90th", "10th") else "left")
    for row in rows:
        fmt = (lambda v: "-" if v != v else f"{v:.3f}")
        table.add_row(escape(row["run_id"]), escape(row["name"]), row["reps"], fmt(row["median"]), fmt(row["p90"]),
                      fmt(row["p10"]))
    console.print(table)


def _select(plans: list[RunPlan], store: RunStore, force: bool, retry_failed: bool, regs) -> list[RunPlan]:
    stored, damaged = store.read_states(p.run_id for p in plans)
    for plan in (p for p in plans if str(p.run_id) in damaged):
        if force:  # starts afresh: its damaged state is cleared with the rest (_hold)
            stored[str(plan.run_id)] = {"state": None}
        else:      # named and skipped; the others go on
            Console(stderr=True).print(f"[yellow]skipped {plan.run_id}[/yellow]: {damaged[str(plan.run_id)]} "
                                       f"(`--run {plan.run_id.run} --force` starts it afresh)",
                                       highlight=False, soft_wrap=True)
    plans = [p for p in plans if force or str(p.run_id) not in damaged]
    states = lifecycle.current_states(store, [p.run_id for p in plans], regs, stored)
    chosen = []
    for plan in plans:
        existing = None
        try:
            existing = store.read_spec(plan.run_id)
        except NeuroError:
            pass
        state = state_of(states[str(plan.run_id)])
        if existing and existing.get("spec_hash") != plan.spec_hash and not force and store.finished_reps(plan.run_id):
            raise NeuroError(f"run {plan.run_id} was trained with a different configuration "
                             "(the manifest changed); use --force to retrain it")
        if force:
            chosen.append(plan)
        elif retry_failed:
            if state in RETRYABLE:
                chosen.append(plan)
        elif state != RunState.FINISHED and state not in ACTIVE:
            chosen.append(plan)
    return chosen


def _planned(name: str, manifest_path: Path, texts: list[str], regs):
    """The manifest, the experiment and its plans, with ``-o KEY=VALUE`` overrides applied."""
    manifest = load_manifest(manifest_path)
    exp = manifest.get(name)
    plan = plan_experiment if exp.search is None else plan_search_bounds  # a search: validated, not sampled
    if not texts:
        return manifest, exp, plan(exp, regs)
    parsed = [parse_override(text) for text in texts]
    try:
        manifest = load_manifest(manifest_path, {exp.key: parsed})
        exp = manifest.get(exp.key)
        plan = plan_experiment if exp.search is None else plan_search_bounds
        plans = plan(exp, regs)
    except ManifestError as exc:
        raise explain(exc, parsed) from None
    for plan in plans:  # recorded with the run; the spec hash already covers what they changed
        plan.spec["overrides"] = list(texts)
    return manifest, exp, plans


def run_experiment(name: str, backend_name: str, jobs: int, dry_run: bool, force: bool,
                   retry_failed: bool, wait: bool, only, manifest_path: Path, store_path: Path,
                   console: Console, overrides: list[str] | None = None,
                   manifest_overrides: list[str] | None = None) -> int:
    from msc_neuro_cli.plugin_system.manager import registries

    regs = registries()
    manifest, exp, plans = _planned(name, manifest_path, manifest_overrides or [], regs)
    if exp.search is not None:
        from msc_neuro_cli.runs.search import SearchRun

        if only:
            raise NeuroError(f"--run selects grid runs; {exp.key} is a search, whose trials run in order")
        search = SearchRun(exp, regs, RunStore(store_path), manifest_overrides or [], plans[0].spec["training"]["epochs"])
        backend = resolve_backend(backend_name, manifest, regs, parse_overrides(overrides))
        _check_datasets(plans, regs, exp)
        return search.run(backend, jobs, dry_run, force, retry_failed, console)
    if only:
        missing = sorted(set(only) - {p.run_id.run for p in plans})
        if missing:
            raise NeuroError(f"experiment {exp.key} has no run {missing[0]} (runs: "
                             f"{', '.join(str(p.run_id.run) for p in plans)})")
        plans = [p for p in plans if p.run_id.run in set(only)]
    backend = resolve_backend(backend_name, manifest, regs, parse_overrides(overrides))
    _check_datasets(plans, regs, exp)
    store = RunStore(store_path)
    if dry_run:
        print_plan(plans, store, console)
        return 0
    chosen, interrupted = dispatch(plans, backend, store, jobs, force, retry_failed, wait, regs, console)
    if not chosen:
        console.print(f"nothing to do: every run of {exp.key} is finished or in progress "
                      "(--force retrains, --retry-failed resubmits failed runs)")
        print_results(store, plans, console)
        return 0
    if interrupted:
        return 130
    if not backend.blocking and not wait:
        return 0
    print_results(store, plans, console)
    failed = [p for p in chosen if state_of(store.read_state(p.run_id)) != RunState.FINISHED]
    for plan in failed:
        state = store.read_state(plan.run_id)
        console.print(f"[red]{plan.run_id}: {state.get('state')}[/red] {state.get('error') or ''} "
                      f"(log: {store.job_logs(plan.run_id)[1]})")
    return 1 if failed else 0


def dispatch(plans: list[RunPlan], backend: Backend, store: RunStore, jobs: int, force: bool,
             retry_failed: bool, wait: bool, regs, console: Console) -> tuple[list[RunPlan], bool]:
    """Select the plans' runs that need training, hand them to ``backend`` and, for a cluster
    backend with ``wait``, follow them until they end. Returns (the chosen plans, interrupted)."""
    pause_point("selecting")
    with submission_lock(store.root):  # two sweeps started at once never select the same run
        chosen = _select(plans, store, force, retry_failed, regs)
        pause_point("selected")
        if chosen:
            held = _hold(chosen, backend, store, force)
            # a blocking sweep's runs are held (queued) now; others become queued when submitted
            job_ids = None if backend.blocking else _submit(held, backend, store, jobs, wait, console)
    if not chosen:
        return chosen, False
    if backend.blocking:
        job_ids = _submit(held, backend, store, jobs, wait, console)
    if job_ids is None:
        return chosen, True
    if not backend.blocking:
        console.print(f"submitted {len(chosen)} runs to {backend.name}: "
                      + ", ".join(sorted(set(job_ids.values()))))
        if wait:
            follow(store, chosen, backend, console)
    return chosen, False


def _hold(chosen: list[RunPlan], backend: Backend, store: RunStore, force: bool) -> tuple[dict, dict]:
    """Write the chosen runs' specs (a job may start at once and read its spec); a blocking
    backend (the local sweep) holds its runs as queued from here. (run ids, states before)."""
    rids = {str(p.run_id): p.run_id for p in chosen}
    for plan in chosen:
        if force:
            store.clear(plan.run_id)
        store.write_spec(plan.run_id, plan.spec)
    before = {text: store.read_state(rid) for text, rid in rids.items()}
    if backend.blocking:
        for rid in rids.values():
            lifecycle.hold(store, rid, backend)
    return rids, before


def _submit(held: tuple[dict, dict], backend: Backend, store: RunStore, jobs: int, wait: bool,
            console: Console) -> dict[str, str] | None:
    """Hand the held runs to the backend as one transaction: a run is queued only once its job
    exists. A run the blocking backend never started goes back to what it was when the sweep
    fails or is interrupted. Other backends' runs become queued when ``submit`` returns their job
    ids; if it raises, no run changed state. None: interrupted.
    """
    rids, before = held
    submission = Submission(store.root, list(rids), {text: store.job_logs(rid) for text, rid in rids.items()},
                            jobs=jobs, wait=wait, reporter=lifecycle.StoreReporter(store, rids))
    try:
        job_ids = backend.submit(submission)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/yellow]: finished repetitions are kept; run the same "
                      "command again to resume")
        return None
    finally:
        if backend.blocking:
            for text, rid in rids.items():
                lifecycle.release(store, rid, before[text])
    if not backend.blocking:
        for text, rid in rids.items():
            lifecycle.submitted(store, rid, backend, job_ids.get(text), before[text])
    return job_ids


def follow(store: RunStore, plans: list[RunPlan], backend: Backend, console: Console,
           interval: float = 2.0) -> None:
    """Poll the engine until every run reached a terminal state, with a progress display."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[info]}"), TimeElapsedColumn(), console=Console(stderr=True)) as progress:
        task = progress.add_task(f"{backend.name} sweep", total=len(plans), info="")
        while True:
            states = {}
            jobs = [store.read_state(p.run_id).get("job_id") for p in plans]
            polled = backend.poll([j for j in jobs if j])
            for plan in plans:
                effective = lifecycle.observe(store, plan.run_id, store.read_state(plan.run_id), polled)
                states[str(plan.run_id)] = state_of(effective)
            done = sum(1 for s in states.values() if s in TERMINAL)
            counts = {s.value: list(states.values()).count(s) for s in set(states.values())}
            progress.update(task, completed=done, info=", ".join(f"{v} {k}" for k, v in sorted(counts.items())))
            if done == len(plans):
                for plan in plans:
                    lifecycle.settled(store, plan.run_id, {"state": states[str(plan.run_id)]})
                return
            time.sleep(interval)
