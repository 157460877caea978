"""The backend test kit (``msc_neuro_cli.api.testing.check_backend`` and ``check_backend_cancel``)
on the built-in local backend, and failing a backend that breaks the contract."""

from __future__ import annotations

import pytest

from msc_neuro_cli.api.testing import check_backend, check_backend_cancel, make_plugin_dist

pytestmark = pytest.mark.slow

# submit() answers with a job id but starts nothing: a --wait sweep sees the job forgotten (lost)
IDLE_BACKEND = """
    from msc_neuro_cli.api import Backend, hookimpl

    class Idle(Backend):
        def submit(self, submission):
            return {run_id: "idle-job" for run_id in submission.run_ids}

        def cancel(self, job_ids):
            pass

    @hookimpl
    def register_backends(registry):
        registry.add("idle", Idle)
"""


def test_a_run_through_the_local_backend_finishes(tmp_path):
    row = check_backend("local", tmp_path, {"threads": 1})
    assert row["job_id"].startswith("local:") and row["state"] == "finished"
    assert (tmp_path / "training_data" / "runs" / "testfolder" / "tinyx0" / "record.json").exists()


def test_a_local_run_is_cancelled(tmp_path):
    row = check_backend_cancel("local", tmp_path)
    assert row["state"] == "cancelled" and row["backend"] == "check"
    assert "neuro cancel" in row["error"]


def test_a_backend_whose_jobs_never_run_fails_the_check(tmp_path, monkeypatch):
    make_plugin_dist(tmp_path / "site", "neuro-idle", "neuro_idle", IDLE_BACKEND)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "site"))
    with pytest.raises(AssertionError, match="backend 'idle': neuro run exited 1"):
        check_backend("idle", tmp_path / "sweep", timeout=120)
