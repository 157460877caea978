"""A stand-in for ``neuro worker`` in the engine tests: ``standin_worker.py --store STORE RUN_ID``.

It does what matters to a backend and nothing else: prints to stdout and stderr (the job's logs),
leaves a marker in the run's folder, sleeps and exits with the code ``STORE/standin.json`` gives
the run (``{"RUN_ID": {"exit": 3, "sleep": 2}}``).
"""

import json
import os
import sys
import time
from pathlib import Path

if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "--store":
        sys.exit(f"usage: {sys.argv[0]} --store STORE RUN_ID (got {sys.argv[1:]})")
    store, run = Path(sys.argv[2]), sys.argv[3]
    plan = json.loads((store / "standin.json").read_text()).get(run, {})
    cores = os.environ.get("NSLOTS") or os.environ.get("SLURM_CPUS_PER_TASK") or "?"
    print(f"stand-in worker {run} cores={cores}", flush=True)
    print(f"stand-in stderr {run}", file=sys.stderr, flush=True)
    marker = store / "runs" / run / "standin-ran"
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps(sys.argv[1:]))
    time.sleep(plan.get("sleep", 0))
    sys.exit(plan.get("exit", 0))
