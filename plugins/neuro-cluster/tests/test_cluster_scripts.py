"""Job-script builders: directives per dialect, validation, and the generated script run for real."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from msc_neuro_cli.api import BackendError, StoreError, Submission, memory_mib
from neuro_cluster.jobspec import JobSpec, job_name, safe_component, walltime_hms
from neuro_cluster.pbs import PbsBackend
from neuro_cluster.scripts import run_list
from neuro_cluster.sge import SgeBackend
from neuro_cluster.slurm import SlurmBackend

ECHO = [sys.executable, "-c", "import sys; print('argv', sys.argv[1:]); sys.exit(int(sys.argv[-1][-1]) % 2)"]


def spec(tmp_path, **kw):
    base = dict(name="neuro_bs4_exp5", script=tmp_path / "j.sh", runs_file=tmp_path / "j.runs",
                sched_log="job_scripts/f/e/sge-1", command=ECHO, tasks=3)
    return JobSpec(**{**base, **kw})


def sge_script(spec):
    return SgeBackend("qsub", {}).script(spec)


def slurm_script(spec):
    return SlurmBackend("slurm", {}).script(spec)


def pbs_script(spec):
    return PbsBackend("pbs", {}).script(spec)


def directives(text, prefix):
    return [line[len(prefix) + 1:] for line in text.splitlines() if line.startswith(prefix + " ")]


def test_sge_directives(tmp_path):
    text = sge_script(spec(tmp_path, cores=4, memory="8G", gpus=1, walltime="1-02:00:00", queue="cpu.q",
                           max_parallel=2, extra=["-P neuro", "-l h_vmem=4G"]))
    assert directives(text, "#$") == [
        "-N neuro_bs4_exp5", "-S /bin/sh", "-cwd",
        "-o job_scripts/f/e/sge-1.o$JOB_ID.$TASK_ID", "-e job_scripts/f/e/sge-1.e$JOB_ID.$TASK_ID",
        "-t 1-3", "-tc 2", "-pe smp 4", "-l mem_free=8192M", "-l gpu=1", "-l h_rt=26:00:00",
        "-q cpu.q", "-P neuro", "-l h_vmem=4G"]
    single = sge_script(spec(tmp_path, tasks=1))
    assert "-t" not in " ".join(directives(single, "#$")) and "-pe" not in single
    assert "sge-1.o$JOB_ID\n" in single


def test_slurm_directives(tmp_path):
    text = slurm_script(spec(tmp_path, cores=2, memory="500M", gpus=2, walltime="0:30:00",
                             queue="gpu", max_parallel=1, extra=["--account=lab"]))
    assert directives(text, "#SBATCH") == [
        "--job-name=neuro_bs4_exp5", "--output=job_scripts/f/e/sge-1.%A_%a.out",
        "--error=job_scripts/f/e/sge-1.%A_%a.err", "--ntasks=1", "--cpus-per-task=2",
        "--array=0-2%1", "--mem=500M", "--gres=gpu:2", "--time=0:30:00", "--partition=gpu", "--account=lab"]


def test_pbs_directives(tmp_path):
    text = pbs_script(spec(tmp_path, cores=4, memory="2G", gpus=1, walltime="2:00:00", queue="workq",
                           max_parallel=2))
    assert directives(text, "#PBS") == [
        "-N neuro_bs4_exp5", "-S /bin/sh", "-o job_scripts/f/e/sge-1.o.^array_index^",
        "-e job_scripts/f/e/sge-1.e.^array_index^", "-J 1-3%2",
        "-l select=1:ncpus=4:mem=2048mb:ngpus=1", "-l walltime=2:00:00", "-q workq"]


@pytest.mark.parametrize("field, value, key", [
    ("queue", "cpu.q; rm -rf /", "queue"), ("queue", "a b", "queue"),
    ("extra", ["-P 'my proj'"], "extra option"), ("extra", ["-l $(reboot)"], "extra option"),
    ("name", "x`id`", "job name"), ("sched_log", "a b/c", "scheduler log path"),
])
def test_unsafe_directive_values_are_refused(tmp_path, field, value, key):
    with pytest.raises(BackendError, match=key):
        sge_script(spec(tmp_path, **{field: value}))


def test_values():
    assert memory_mib("8G") == 8192 and memory_mib("8gb") == 8192 and memory_mib("1T") == 1024 ** 2
    assert memory_mib("2048K") == 2 and memory_mib("300") == 300
    assert walltime_hms("1-00:00:05") == "24:00:05" and walltime_hms("72:00:00") == "72:00:00"
    assert job_name("9lives/..[x]") == "n9lives_.._x_"
    for bad in ("8 gigs", "-1G", "0K", "4 G B", "lots"):
        with pytest.raises(BackendError, match="memory"):
            memory_mib(bad)
    assert memory_mib("6M", least=6) == 6
    with pytest.raises(BackendError, match="below the minimum of 6M"):
        memory_mib("1K", least=6)
    with pytest.raises(BackendError, match="walltime"):
        walltime_hms("90 minutes")


def test_run_list_refuses_tabs_and_newlines():
    assert run_list([("f/ex0", "/o 0", "/e 0")]) == "f/ex0\t/o 0\t/e 0\n"
    with pytest.raises(BackendError, match="tab or newline"):
        run_list([("f/ex0", "/o\n0", "/e")])


@pytest.mark.parametrize("builder, env, line", [
    (sge_script, {"SGE_TASK_ID": "2"}, 2), (sge_script, {"SGE_TASK_ID": "undefined"}, 1),
    (slurm_script, {"SLURM_ARRAY_TASK_ID": "2"}, 3), (slurm_script, {}, 1),
    (pbs_script, {"PBS_ARRAY_INDEX": "3"}, 3),
])
def test_generated_script_runs_its_task(tmp_path, builder, env, line):
    """The script body, run by /bin/sh as an engine would: picks its run, redirects, exits with it."""
    odd = tmp_path / "store with 'quotes' and $dollar"
    odd.mkdir()
    runs = [(f"f/ex{i}", str(odd / f"logs dir/o_{i}.log"), str(odd / f"logs dir/e_{i}.log")) for i in (1, 2, 3)]
    s = spec(odd, command=[*ECHO, "--store", str(odd)])
    s.runs_file.write_text(run_list(runs))
    s.script.write_text(builder(s))
    proc = subprocess.run(["/bin/sh", str(s.script)], env={"PATH": os.environ["PATH"], **env}, cwd=odd)
    assert proc.returncode == line % 2      # ECHO exits with the run number's parity
    out = Path(runs[line - 1][1]).read_text()
    assert out == f"argv ['--store', {str(odd)!r}, 'f/ex{line}']\n"


def test_generated_script_refuses_a_task_without_a_run(tmp_path):
    s = spec(tmp_path)
    s.runs_file.write_text(run_list([("f/ex0", "/dev/null", "/dev/null")]))
    s.script.write_text(sge_script(s))
    proc = subprocess.run(["/bin/sh", str(s.script)], env={"SGE_TASK_ID": "5", "PATH": os.environ["PATH"]},
                          capture_output=True, text=True)
    assert proc.returncode == 97 and "task 5 has no line" in proc.stderr


def test_backend_writes_script_and_run_list_into_the_store(tmp_path):
    store = tmp_path / "training_data"
    runs = ["folder/bs4_exp5x0", "folder/bs4_exp5x1"]
    logs = {r: (store / "job_logs/folder/bs4_exp5" / f"o_{i}.log", store / "job_logs/folder/bs4_exp5" / f"e_{i}.log")
            for i, r in enumerate(runs)}
    backend = SlurmBackend("slurm-cpu", {"backend": "slurm", "cores": 2, "partition": "debug"})
    sub = Submission(store=store, run_ids=runs, log_paths=logs, jobs=4)
    spec_, text = backend.write_job(sub)
    assert spec_.script.parent == store.resolve() / "job_scripts/folder/bs4_exp5"
    assert spec_.runs_file.read_text().splitlines()[1].split("\t") == [
        runs[1], str(logs[runs[1]][0].resolve()), str(logs[runs[1]][1].resolve())]
    assert "--array=0-1%4" in text and "--cpus-per-task=2" in text  # --jobs 4 throttles the array
    assert f"-m msc_neuro_cli worker --store {store.resolve()}" in text
    assert os.access(spec_.script, os.X_OK) and logs[runs[0]][0].parent.is_dir()


@pytest.mark.parametrize("profile, key", [({"cores": 0}, "cores"), ({"memory": "lots"}, "memory"),
                                          ({"walltime": "1h"}, "walltime"), ({"queues": "x"}, "queues"),
                                          ({"extra": ["-q 'a b'"]}, "extra"), ({"queue": "a b"}, "queue"),
                                          ({"pe": "smp;x"}, "pe")])
def test_bad_profiles_name_the_key(profile, key):
    with pytest.raises(BackendError, match=f"profile 'qsub-cpu', key '{key}'"):
        SgeBackend("qsub-cpu", profile)


def test_bad_run_ids_are_refused(tmp_path):
    backend = SgeBackend("qsub", {})
    sub = Submission(store=tmp_path, run_ids=["../etc/passwdx0"], log_paths={})
    with pytest.raises(StoreError, match="run id"):
        backend.submit(sub)


def test_names_a_directive_cannot_hold_are_encoded(tmp_path):
    """Folder and experiment names may hold ()[] (valid run ids) but directives cannot: the job
    folder is encoded, distinct names stay distinct, and plain names are kept as they are."""
    assert safe_component("bs4_exp5") == "bs4_exp5"
    odd = [safe_component(n) for n in ("a(1)", "a[1]", "a_1_")]
    assert len(set(odd)) == 3 and all(o.startswith("a_1_") for o in odd[:2])
    store = tmp_path / "training_data"
    runs = ["f(1)/e[2]x0", "f(1)/e[2]x1"]
    logs = {r: (store / "job_logs" / f"o_{i}.log", store / "job_logs" / f"e_{i}.log") for i, r in enumerate(runs)}
    for backend in (SgeBackend("qsub", {}), SlurmBackend("slurm", {}), PbsBackend("pbs", {})):
        spec_, text = backend.write_job(Submission(store=store, run_ids=runs, log_paths=logs))
        assert spec_.script.parent == store.resolve() / "job_scripts" / safe_component("f(1)") / safe_component("e[2]")
        assert spec_.runs_file.read_text().splitlines()[0].split("\t")[0] == runs[0]   # the run id itself


def test_each_dialect_is_one_class():
    """Script, submission and status of a dialect live on its class: no table keyed by a string."""
    import neuro_cluster.scripts as scripts
    assert not hasattr(scripts, "BUILDERS") and not hasattr(scripts, "TASK_INDEX")
    for cls, prefix in ((SgeBackend, "#$"), (PbsBackend, "#PBS"), (SlurmBackend, "#SBATCH")):
        assert cls.prefix == prefix and "TASK=" in cls.task_index
        for method in ("directives", "submit_script", "task_ids", "poll", "cancel"):
            assert method in vars(cls), (cls, method)
