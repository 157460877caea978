"""The qsub (Grid Engine) and slurm backends against the real engines of .ci/engines/up.sh.

Runs go through the real generated script, array submission, batched status and cancellation;
the worker is a stand-in (standin_worker.py) until the end-to-end tests through `neuro run`.
Skipped when an engine is not running, except where NEURO_REQUIRE_ENGINES names it (CI).
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

import pytest

from msc_neuro_cli.api import BackendError, Submission
from neuro_cluster.sge import SgeBackend
from neuro_cluster.slurm import SlurmBackend

from cluster_engine_access import require_engine

pytestmark = pytest.mark.slow
STANDIN = Path(__file__).with_name("standin_worker.py")
ENDED = {"finished", "failed", "cancelled"}


class StandinMixin:
    def worker_command(self, store):
        return [sys.executable, str(STANDIN), "--store", str(store)]


class StandinSge(StandinMixin, SgeBackend):
    pass


class StandinSlurm(StandinMixin, SlurmBackend):
    pass


BACKENDS = {"sge": StandinSge, "slurm": StandinSlurm}
HOLD = {"sge": ["-h"], "slurm": ["--hold"]}
ID_SHAPE = {"sge": r"^(\d+)\.{task1}$", "slurm": r"^(\d+)_{task0}$"}


@pytest.fixture(params=["sge", "slurm"])
def engine(request, monkeypatch):
    require_engine(request.param, monkeypatch)
    return request.param


def submission(tmp_path: Path, plan: dict[int, dict], exp: str = "standin") -> Submission:
    store = tmp_path / "training_data"
    store.mkdir(exist_ok=True)
    runs = {i: f"enginetest/{exp}x{i}" for i in plan}
    (store / "standin.json").write_text(json.dumps({runs[i]: p for i, p in plan.items()}))
    logs = {runs[i]: (store / "job_logs/enginetest" / exp / f"o_{i}.log",
                      store / "job_logs/enginetest" / exp / f"e_{i}.log") for i in plan}
    return Submission(store=store, run_ids=list(runs.values()), log_paths=logs)


def follow(backend, job_ids: list[str], until, timeout: float = 90) -> list[dict]:
    """Poll every 0.3 s until ``until(statuses)``; return every answer seen."""
    seen = []
    deadline = time.monotonic() + timeout
    while True:
        statuses = backend.poll(job_ids)
        seen.append(statuses)
        if until(statuses):
            return seen
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; last status: {statuses}")
        time.sleep(0.3)


def all_ended(job_ids):
    """Every job ended, or forgotten by the engine (absent: the core calls that lost)."""
    return lambda statuses: all(j not in statuses or statuses[j].state in ENDED for j in job_ids)


def test_array_sweep_runs_to_completion(engine, tmp_path):
    sub = submission(tmp_path, {0: {}, 1: {"exit": 3}, 2: {"sleep": 2}})
    backend = BACKENDS[engine](engine, {"max_parallel": 1})
    ids = backend.submit(sub)
    numbers = set()
    for i, run in enumerate(sub.run_ids):
        match = re.match(ID_SHAPE[engine].format(task1=i + 1, task0=i), ids[run])
        assert match, ids
        numbers.add(match.group(1))
    assert len(numbers) == 1                                   # one array submission
    seen = follow(backend, list(ids.values()), all_ended(list(ids.values())))
    final = seen[-1]
    assert [(final[ids[r]].state, final[ids[r]].exit_code) for r in sub.run_ids] == [
        ("finished", 0), ("failed", 3), ("finished", 0)]
    for answer in seen:                                        # the throttle held: one at a time
        assert sum(s.state == "running" for s in answer.values()) <= 1
    assert any(a[ids[sub.run_ids[2]]].state == "running" for a in seen)
    assert any(a[ids[sub.run_ids[2]]].state == "queued" for a in seen)
    for i, run in enumerate(sub.run_ids):
        out, err = sub.log_paths[run]
        assert out.read_text().startswith(f"stand-in worker {run} cores=1")
        assert err.read_text() == f"stand-in stderr {run}\n"
        assert json.loads((sub.store / "runs" / run / "standin-ran").read_text()) == [
            "--store", str(sub.store.resolve()), run]


def test_cores_reach_the_job(engine, tmp_path):
    sub = submission(tmp_path, {0: {}}, exp="cores")
    backend = BACKENDS[engine](engine, {"cores": 2, "memory": "100M", "walltime": "0:10:00"})
    ids = backend.submit(sub)
    assert follow(backend, list(ids.values()), all_ended(list(ids.values())))[-1][ids[sub.run_ids[0]]].state == "finished"
    assert "cores=2" in sub.log_paths[sub.run_ids[0]][0].read_text()


def test_held_job_is_queued_then_cancelled(engine, tmp_path):
    sub = submission(tmp_path, {0: {}}, exp="held")
    backend = BACKENDS[engine](engine, {"extra": HOLD[engine]})
    job = backend.submit(sub)[sub.run_ids[0]]
    for _ in range(3):
        assert backend.poll([job])[job].state == "queued"
        time.sleep(0.5)
    backend.cancel([job])
    final = follow(backend, [job], all_ended([job]), timeout=30)[-1].get(job)
    # Slurm keeps the record; Grid Engine forgets a job deleted before it ran (no qacct record),
    # so the core must remember that it cancelled it.
    assert (final.state if final else None) == {"slurm": "cancelled", "sge": None}[engine]
    assert not sub.log_paths[sub.run_ids[0]][0].exists()


def test_running_job_cancelled(engine, tmp_path):
    sub = submission(tmp_path, {0: {"sleep": 60}}, exp="cancel")
    backend = BACKENDS[engine](engine, {})
    job = backend.submit(sub)[sub.run_ids[0]]
    follow(backend, [job], lambda s: s[job].state == "running")
    backend.cancel([job])
    final = follow(backend, [job], all_ended([job]), timeout=30)[-1][job]
    if engine == "slurm":
        assert final.state == "cancelled"
    else:   # qacct: failed 100 (killed after the job started), exit 137
        assert (final.state, final.exit_code) == ("failed", 137) and "killed" in final.detail
    backend.cancel([job])                                      # cancelling again is harmless


def test_unknown_job_is_absent(engine):
    backend = BACKENDS[engine](engine, {})
    assert backend.poll(["987654"]) == {}


def test_gpu_request(engine, tmp_path):
    sub = submission(tmp_path, {0: {}}, exp="gpu")
    backend = BACKENDS[engine](engine, {"gpus": 1})
    if engine == "slurm":   # this node declares no GPUs (no GresTypes): sbatch refuses, clearly
        with pytest.raises(BackendError, match="sbatch"):
            backend.submit(sub)
        return
    job = backend.submit(sub)[sub.run_ids[0]]   # a gpu complex exists with capacity 0: waits
    time.sleep(2.5)
    assert backend.poll([job])[job].state == "queued"
    backend.cancel([job])


def test_engine_down_is_a_clear_error(engine, monkeypatch, tmp_path):
    if engine == "sge":
        monkeypatch.setenv("SGE_ROOT", "/nonexistent")
    else:  # a controller port nothing listens on
        conf = Path(os.environ.get("SLURM_CONF", "/etc/slurm/slurm.conf")).read_text() + "SlurmctldPort=9\nMessageTimeout=1\n"
        (tmp_path / "slurm.conf").write_text(conf)
        monkeypatch.setenv("SLURM_CONF", str(tmp_path / "slurm.conf"))
    backend = BACKENDS[engine](engine, {})
    with pytest.raises(BackendError, match="qstat|squeue"):
        backend.poll(["1"])


def test_require_engines_turns_a_skip_into_a_failure(monkeypatch):
    monkeypatch.setenv("NEURO_REQUIRE_ENGINES", "sge")
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(pytest.fail.Exception, match="sge is not installed"):
        require_engine("sge", monkeypatch)
