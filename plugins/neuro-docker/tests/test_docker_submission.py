"""A docker submission that cannot reach the engine leaves the runs as they were (not stranded as
queued): `neuro status` shows them planned and the next `neuro run` tries them again."""

from __future__ import annotations

import json
from pathlib import Path

from msc_neuro_cli.api import testing
from msc_neuro_cli.api.testing import neuro


def test_docker_down_leaves_the_runs_as_they_were(tmp_path: Path):
    data = testing.write_tiny_dataset(tmp_path / "tinydata")
    (tmp_path / "experiments.yaml").write_text(testing.TINY_MANIFEST.format(data=data))
    down = {"DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock"}
    for _ in range(2):   # the second attempt is not "nothing to do": the runs were not queued
        proc = neuro("run", "tiny", "--backend", "docker", cwd=tmp_path, env=down)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert "cannot reach the Docker engine" in proc.stderr and "nothing to do" not in proc.stdout
    rows = json.loads(neuro("status", "--json", cwd=tmp_path, check=True).stdout)
    assert [(r["state"], r["job_id"]) for r in rows] == [("planned", None)] * 2
