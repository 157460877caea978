"""neuro plugin: cluster backends for Grid Engine (``qsub``), PBS Pro/OpenPBS (``pbs``) and ``slurm``.

Job scripts are generated (``scripts``), submitted as files and polled with one batched query per
call; the parsers of scheduler output (``parse_sge``, ``parse_slurm``, ``parse_pbs``) are pure.
"""

from msc_neuro_cli.api import hookimpl

from .pbs import PbsBackend
from .sge import SgeBackend
from .slurm import SlurmBackend

# The thesis pipeline's runner environments as named profiles (backend + resources); see docs/backends/.
PROFILES = {
    "qsub-cpu": {"backend": "qsub", "queue": "cpu.q", "cores": 4, "memory": "8G"},
    "qsub-gpu": {"backend": "qsub", "queue": "cpu.q", "cores": 4, "memory": "8G", "gpus": 1},
    "slurm-cpu": {"backend": "slurm", "cores": 4, "memory": "8G"},
    "slurm-gpu": {"backend": "slurm", "cores": 4, "memory": "8G", "gpus": 1},
}


@hookimpl
def register_backends(registry):
    registry.add("qsub", SgeBackend)
    registry.add("pbs", PbsBackend)
    registry.add("slurm", SlurmBackend)
    for name, settings in PROFILES.items():
        registry.add_profile(name, settings)
