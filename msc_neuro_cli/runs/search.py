"""``neuro run`` on a search experiment: its trials one after another, each an ordinary run.

For trial t: the sampler plugin proposes parameters from every finished trial (ask) -> the
planner makes run t of them (the same planner and spec hash as a grid's runs) -> the backend
trains it and the search waits -> its metric is read from the run's record (tell: it is among the
finished trials the next proposal sees). The run store is the truth: finished trials are rebuilt
from it, so an interrupted search resumes where it stopped (an interrupted trial's run resumes
like any run, with its stored parameters) and ends with exactly ``trials`` runs.
"""

from __future__ import annotations

import math

from rich.console import Console
from rich.table import Table

from msc_neuro_cli.errors import ManifestError, NeuroError, RegistryError
from msc_neuro_cli.runs.lifecycle import ACTIVE, RunState, state_of
from msc_neuro_cli.runs.results import record_scores
from msc_neuro_cli.spec.manifest import Experiment
from msc_neuro_cli.spec.plan import RunPlan, first_trials, plan_trial
from msc_neuro_cli.spec.search_space import FinishedTrial, SearchSampler, SearchSpec, params_text
from msc_neuro_cli.store.run_store import RunId, RunStore

INSTALL_HINT = "install the neuro-optuna plugin (`make install`, or pip install -e plugins/neuro-optuna)"


def sampler_for(search: SearchSpec, regs) -> SearchSampler:
    """The installed sampler the search names; a clear error when none or another is installed."""
    names = regs.samplers.names()
    if not names:
        raise ManifestError(f"{search.where}.sampler: a search needs a sampler plugin and none is "
                            f"installed: {INSTALL_HINT}")
    if search.sampler not in names:
        raise ManifestError(f"{search.where}.sampler: unknown sampler {search.sampler!r} "
                            f"(available: {', '.join(names)})")
    return regs.samplers.get(search.sampler)(search)


def trial_value(record: dict | None, metric: str) -> float | None:
    """A finished trial's metric (median over repetitions) from its run record; None if not finite."""
    value = record_scores(record).get(metric)
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def best_of(finished: list[FinishedTrial], search: SearchSpec) -> FinishedTrial | None:
    best = None
    for trial in finished:
        if trial.value is not None and (best is None or search.better(trial.value, best.value)):
            best = trial
    return best


class SearchRun:
    """One ``neuro run`` of a search experiment (``overrides``: the ``-o`` texts, recorded in specs)."""

    def __init__(self, exp: Experiment, regs, store: RunStore, overrides: list[str], epochs: int):
        self.exp, self.search, self.regs, self.store = exp, exp.search, regs, store
        self.overrides, self.epochs = list(overrides), epochs
        self.first = first_trials(exp)  # a grid beside the search: the values of trials 0, 1, ...
        self.sampler = sampler_for(self.search, regs)

    def run_id(self, trial: int) -> RunId:
        exp = self.exp
        return RunId(exp.folder, f"{exp.exp_name}x{trial}", trial, exp.exp_name)

    def stored_spec(self, trial: int) -> dict | None:
        """The spec of trial ``trial``'s run when the store has one."""
        rid = self.run_id(trial)
        if not (self.store.run_dir(rid) / "spec.json").exists():
            return None
        return self.store.read_spec(rid)

    def _stored_params(self, trial: int) -> dict | None:
        """The parameters a stored trial ran with, if they still belong to this search; None when
        nothing usable is stored. A finished run that does not fit the search is an error."""
        spec = self.stored_spec(trial)
        if spec is None:
            return None
        params = spec.get("hyperparameters") or {}
        if spec.get("search") is not None and self.search.contains(params) and self._agrees(trial, params):
            return params
        if self.store.finished_reps(self.run_id(trial)):
            raise NeuroError(f"run {self.run_id(trial)} is not a trial of the current search of {self.exp.key} "
                             "(the manifest changed); use --force to start the search again")
        return None  # an unfinished leftover: replaced by a new proposal

    def _agrees(self, trial: int, params: dict) -> bool:
        """Whether ``params`` have the values the grid beside the search gives this trial."""
        fixed = self.first[trial] if trial < len(self.first) else {}
        return all(params[name] == value for name, value in fixed.items())

    def _plan(self, trial: int, finished: list[FinishedTrial], force: bool) -> RunPlan:
        params = None if force else self._stored_params(trial)
        if params is None:
            params = self.sampler.suggest(trial, list(finished))
            if not isinstance(params, dict) or not self.search.contains(params):
                raise RegistryError(f"sampler {self.search.sampler!r} proposed {params!r} for trial {trial}, "
                                    f"outside the search space of {self.exp.key}")
            if trial < len(self.first):  # the grid's values win; the sampler fills in the rest
                params = {**params, **self.first[trial]}
        plan = plan_trial(self.exp, trial, params, self.regs)
        if self.overrides:
            plan.spec["overrides"] = list(self.overrides)
        return plan

    def finished(self) -> list[FinishedTrial]:
        """The stored trials whose runs finished (for --dry-run; a run rebuilds them as it goes)."""
        done = []
        for trial in range(self.search.trials):
            rid = self.run_id(trial)
            params = self._stored_params(trial)
            if params is not None and state_of(self.store.read_state(rid)) == RunState.FINISHED:
                done.append(FinishedTrial(trial, params, trial_value(self.store.read_record(rid), self.search.metric)))
        return done

    def run(self, backend, jobs: int, dry_run: bool, force: bool, retry_failed: bool, console: Console) -> int:
        from msc_neuro_cli.runs.submit import print_results

        if retry_failed:
            raise NeuroError(f"{self.exp.key} is a search: it retries its failed and interrupted trials "
                             "by itself; run it again without --retry-failed")
        if dry_run:
            self.print_dry_run(backend, console)
            return 0
        err = Console(stderr=True)
        err.print(f"{self.exp.key}: {self.search.describe()}", highlight=False)
        finished: list[FinishedTrial] = []
        plans, trained, failed = [], 0, 0
        try:
            for trial in range(self.search.trials):
                plan = self._plan(trial, finished, force)
                plans.append(plan)
                outcome = self._train(plan, backend, jobs, force, err)
                if outcome is None:
                    return 130
                trained += outcome
                state = self.store.read_state(plan.run_id)
                if state_of(state) == RunState.FAILED:  # often its parameters' doing (diverged): told as failed
                    failed += 1
                    console.print(f"[red]{plan.run_id}: failed[/red] {state.get('error') or ''} "
                                  f"(log: {self.store.job_logs(plan.run_id)[1]}); the search goes on")
                    finished.append(FinishedTrial(trial, plan.values, None))
                    continue
                if state_of(state) != RunState.FINISHED:
                    busy = " (another neuro run is training it)" if state_of(state) in ACTIVE else ""
                    console.print(f"[red]{plan.run_id}: {state.get('state')}[/red]{busy} {state.get('error') or ''} "
                                  f"(log: {self.store.job_logs(plan.run_id)[1]}); run the same command again to retry it")
                    return 1
                value = trial_value(self.store.read_record(plan.run_id), self.search.metric)
                finished.append(FinishedTrial(trial, plan.values, value))
                best = best_of(finished, self.search)
                err.print(f"trial {trial}: {self.search.metric} {'-' if value is None else f'{value:.4f}'}"
                          + (f" (best so far: trial {best.number}, {best.value:.4f})" if best else ""), highlight=False)
        except KeyboardInterrupt:  # between trials (a trial's own interruption is handled by dispatch)
            err.print("[yellow]interrupted[/yellow]: finished trials are kept; run the same command again to resume")
            return 130
        if not trained:
            console.print(f"nothing to do: all {self.search.trials} trials of {self.exp.key} are finished "
                          "(--force retrains them; raise search.trials, e.g. -o search.trials=N, to search on)")
        print_results(self.store, plans, console)
        self.print_best(finished, console)
        return 1 if failed else 0  # a rerun retries the failed trials, like a grid's failed runs

    def _train(self, plan: RunPlan, backend, jobs: int, force: bool, err: Console) -> bool | None:
        """Train one trial's run unless it finished; whether it was handed to the backend (None:
        interrupted). A finished trial goes through the selection too, which refuses one trained
        with a different configuration (a changed manifest), as for a grid's runs."""
        from msc_neuro_cli.runs.submit import dispatch

        trial = plan.run_id.run
        if force or state_of(self.store.read_state(plan.run_id)) != RunState.FINISHED:
            err.print(f"trial {trial} ({trial + 1} of {self.search.trials}, run {plan.run_id}): "
                      f"{params_text(plan.values)}", highlight=False)
        chosen, interrupted = dispatch([plan], backend, self.store, jobs, force, False, True, self.regs, err)
        return None if interrupted else bool(chosen)

    def print_best(self, finished: list[FinishedTrial], console: Console) -> None:
        best = best_of(finished, self.search)
        if best is not None:
            console.print(f"best trial of {self.exp.key}: {best.number} ({self.run_id(best.number)}), "
                          f"{self.search.metric} {best.value:.4f}: {params_text(best.params)}", highlight=False)

    def print_dry_run(self, backend, console: Console) -> None:
        done = self.finished()
        exp = self.exp
        console.print(f"search {exp.key}: {self.search.describe()}", highlight=False)
        if done:
            table = Table(title=f"finished trials: {len(done)}")
            for col in ("trial", "run id", "parameters", self.search.metric):
                table.add_column(col)
            for trial in done:
                table.add_row(str(trial.number), str(self.run_id(trial.number)), params_text(trial.params),
                              "-" if trial.value is None else f"{trial.value:.4f}")
            console.print(table)
        left = self.search.trials - len(done)
        if self.first:
            first = "trial 0 takes" if len(self.first) == 1 else f"trials 0 to {len(self.first) - 1} take"
            console.print(f"{first} the grid's values", highlight=False)
        console.print(f"would run {left} more trial(s) one after another on {backend.name} "
                      f"({len(exp.seeds)} repetition(s), {self.epochs} epochs each), proposed by the "
                      f"{self.search.sampler!r} sampler from the finished trials", highlight=False)
        self.print_best(done, console)
