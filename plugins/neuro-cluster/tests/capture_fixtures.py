"""Re-capture the scheduler-output fixtures from the real engines (``.ci/engines/up.sh sge slurm``).

Not a test: run by hand, ``python plugins/neuro-cluster/tests/capture_fixtures.py``, with the
engines' environment sourced (``source /tmp/neuro-engines/env.sh``). It submits small jobs in every
state the parsers must read, saves what qstat/qacct/squeue/sacct print, and cancels what is left.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"


def sh(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120)


def save(name: str, text: str) -> None:
    (FIXTURES / name).write_text(text)
    print(f"saved {name} ({len(text)} chars)")


def script(folder: Path, name: str, body: str) -> str:
    path = folder / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return str(path)


def sge(work: Path) -> None:
    ok, fail, slow = (script(work, n, b) for n, b in
                      [("ok.sh", "exit 0"), ("fail.sh", "exit 3"), ("slow.sh", "sleep 30")])
    common = ["-terse", "-o", str(work), "-e", str(work)]
    jobs = {
        "ok": sh("qsub", *common, ok), "fail": sh("qsub", *common, fail),
        "array": sh("qsub", *common, "-t", "1-3", ok),
        "killed": sh("qsub", *common, slow),
    }
    time.sleep(4)
    ids = {k: v.stdout.split(".")[0].strip() for k, v in jobs.items()}
    running = sh("qsub", *common, slow).stdout.strip()
    pending_array = sh("qsub", *common, "-t", "1-6", "-tc", "1", slow).stdout.split(".")[0]
    held = sh("qsub", *common, "-h", ok).stdout.strip()
    gpu = sh("qsub", *common, "-l", "gpu=1", ok).stdout.strip()
    error = sh("qsub", "-terse", "-o", "/nonexistent/dir/out", "-e", str(work), ok).stdout.strip()
    time.sleep(4)
    save("sge_qstat_mixed.xml", sh("qstat", "-xml").stdout)
    sh("qdel", ids["killed"])
    time.sleep(3)
    for key in ("ok", "fail", "array", "killed"):
        save(f"sge_qacct_{key}.txt", sh("qacct", "-j", ids[key]).stdout)
    sh("qdel", running, pending_array, held, gpu, error)
    time.sleep(3)
    save("sge_qstat_empty.xml", sh("qstat", "-xml").stdout)
    missing = sh("qacct", "-j", "999999")
    save("sge_qacct_missing.txt", missing.stdout + missing.stderr)


def slurm(work: Path) -> None:
    ok, fail, slow = (script(work, n, b) for n, b in
                      [("ok.sh", "exit 0"), ("fail.sh", "exit 3"), ("slow.sh", "sleep 60")])
    common = ["--parsable", "-o", f"{work}/%j.out"]
    done = [sh("sbatch", *common, ok), sh("sbatch", *common, fail),
            sh("sbatch", *common, "--array=0-2", ok)]
    time.sleep(5)
    running = [sh("sbatch", *common, slow).stdout.strip() for _ in range(2)]
    pending = sh("sbatch", *common, "--array=0-3%2", slow).stdout.strip()
    held = sh("sbatch", *common, "--hold", ok).stdout.strip()
    cancelled = sh("sbatch", *common, "--hold", ok).stdout.strip()
    sh("scancel", cancelled)
    time.sleep(2)
    save("slurm_squeue_mixed.txt", sh("squeue", "-h", "-r", "--states=all", "-O",
                                      "JobArrayID:|,JobID:|,State:|,Reason:|,exit_code:|").stdout)
    save("slurm_squeue_collapsed.txt", sh("squeue", "-h", "--states=all", "-O",
                                          "JobArrayID:|,JobID:|,State:|,Reason:|,exit_code:|").stdout)
    sh("scancel", *running, pending, held)
    time.sleep(3)
    ids = ",".join(p.stdout.strip() for p in done)
    out = sh("sacct", "-n", "-P", "-X", "-o", "JobID,State,ExitCode", "-j", ids)
    save("slurm_sacct_disabled.txt", out.stdout + out.stderr)
    out = sh("sacct", "-c", "-n", "-P", "-o", "JobID,State,ExitCode")
    save("slurm_sacct_c.txt", out.stdout)
    save("slurm_sacct_c_stderr.txt", out.stderr)
    config = sh("scontrol", "show", "config").stdout
    loc = next(line.split("=", 1)[1].strip() for line in config.splitlines() if line.startswith("JobCompLoc"))
    save("slurm_jobcomp.txt", Path(loc).read_text())


if __name__ == "__main__":
    FIXTURES.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        sge(Path(tmp))
        slurm(Path(tmp))
