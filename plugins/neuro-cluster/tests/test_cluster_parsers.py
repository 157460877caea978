"""Parsers of scheduler output, on output captured from the real engines (PBS: hand-written)."""

from pathlib import Path

import pytest

from neuro_cluster.parse_pbs import parse_qstat_json, short_id
from neuro_cluster.parse_sge import parse_qacct, parse_qstat_xml, qstat_state
from neuro_cluster.parse_slurm import exit_parts, parse_jobcomp, parse_sacct, parse_squeue
from neuro_cluster.parsing import SchedulerOutputError, expand_tasks

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def states(parsed):
    return {job: (s.state, s.exit_code) for job, s in parsed.items()}


# --- Grid Engine ---------------------------------------------------------------------------------
def test_qstat_xml_running_pending_held_and_array_tasks():
    parsed = parse_qstat_xml(fixture("sge_qstat_mixed.xml"))
    assert states(parsed) == {
        "14": ("running", None), "15": ("running", None),
        **{f"16.{t}": ("queued", None) for t in range(1, 7)},   # pending array 1-6:1, expanded
        "17": ("queued", None), "18": ("queued", None), "19": ("queued", None),
    }
    assert parsed["17"].detail == "held"


def test_qstat_xml_error_state_is_failed():
    parsed = parse_qstat_xml(fixture("sge_qstat_error_state.xml"))
    assert parsed["20"].state == "failed" and "Eqw" in parsed["20"].detail
    assert parsed["21"].state == "running"


@pytest.mark.parametrize("code, state, detail", [
    ("qw", "queued", ""), ("hqw", "queued", "held"), ("r", "running", ""), ("t", "running", "state t"),
    ("Rr", "running", "state Rr"), ("s", "running", "suspended (s)"), ("dr", "running", "being deleted (dr)"),
    ("dqw", "queued", "being deleted (dqw)"), ("Eqw", "failed", None)])
def test_qstat_state_codes(code, state, detail):
    status = qstat_state(code)
    assert status.state == state and (detail is None or status.detail == detail)


@pytest.mark.parametrize("text", ["", "  \n", fixture("sge_qstat_empty.xml")])
def test_qstat_xml_without_jobs(text):
    assert parse_qstat_xml(text) == {}


@pytest.mark.parametrize("text", [
    fixture("sge_qstat_mixed.xml")[:700],                         # cut off
    "error: commlib error: got select error (Connection refused)",
    "<queue_info></queue_info>",                                  # wrong root
    "<job_info><job_list><state>r</state></job_list></job_info>",  # no job number
    "<job_info><job_list><JB_job_number>5</JB_job_number><state>qw</state>"
    "<tasks>9-2:1</tasks></job_list></job_info>",                  # backwards range
])
def test_qstat_xml_malformed_is_a_clear_error(text):
    with pytest.raises(SchedulerOutputError, match="qstat -xml"):
        parse_qstat_xml(text)


def test_qacct_finished_failed_killed_and_array():
    assert states(parse_qacct(fixture("sge_qacct_ok.txt"))) == {"11": ("finished", 0)}
    assert states(parse_qacct(fixture("sge_qacct_fail.txt"))) == {"12": ("failed", 3)}
    killed = parse_qacct(fixture("sge_qacct_killed.txt"))["14"]   # qdel of a running job
    assert (killed.state, killed.exit_code) == ("failed", 137)
    assert "100" in killed.detail and "killed" in killed.detail
    assert states(parse_qacct(fixture("sge_qacct_array.txt"))) == {
        f"13.{t}": ("finished", 0) for t in (1, 2, 3)}


def test_qacct_keeps_the_last_record_of_a_rescheduled_job():
    first = fixture("sge_qacct_fail.txt")
    second = fixture("sge_qacct_fail.txt").replace("exit_status  3", "exit_status  0")
    assert states(parse_qacct(first + second)) == {"12": ("finished", 0)}


@pytest.mark.parametrize("text", [
    fixture("sge_qacct_missing.txt"),                 # "error: job id 999999 not found"
    "=" * 62 + "\njobnumber 5\ntaskid undefined\nfailed 0\n",       # no exit_status
    "=" * 62 + "\njobnumber five\ntaskid undefined\nfailed 0\nexit_status 0\n",
])
def test_qacct_malformed_is_a_clear_error(text):
    with pytest.raises(SchedulerOutputError, match="qacct"):
        parse_qacct(text)


def test_qacct_empty():
    assert parse_qacct("") == {}


# --- Slurm ---------------------------------------------------------------------------------------
def test_squeue_states_exit_codes_and_array_tasks():
    parsed = parse_squeue(fixture("slurm_squeue_mixed.txt"))
    assert states(parsed) == {
        "16": ("cancelled", 0), "7": ("finished", 0), "1": ("failed", 3), "8": ("failed", 3),
        **{f"2_{t}": ("finished", 0) for t in range(4)}, **{f"9_{t}": ("finished", 0) for t in range(3)},
        **{f"14_{t}": ("queued", None) for t in range(4)},
        "15": ("queued", None), "3": ("queued", None), "12": ("running", None), "13": ("running", None),
    }
    assert parsed["14_1"].detail == "Resources" and parsed["15"].detail == "JobHeldUser"


def test_squeue_collapsed_pending_array_expands_to_the_same_tasks():
    assert parse_squeue(fixture("slurm_squeue_collapsed.txt")) == parse_squeue(fixture("slurm_squeue_mixed.txt"))


@pytest.mark.parametrize("text", [
    "slurm_load_jobs error: Unable to contact slurm controller (connect failure)",
    "12|12|RUNNING|None|\n",                 # a field missing
    "12|12||None|0|\n",                      # no state
    "x1|1|RUNNING|None|0|\n",                # not a job id
    "4_[3-1]|4|PENDING|None|0|\n",           # backwards task range
])
def test_squeue_malformed_is_a_clear_error(text):
    with pytest.raises(SchedulerOutputError, match="squeue"):
        parse_squeue(text)


def test_squeue_empty():
    assert parse_squeue("") == {}


def test_sacct_c_output():
    # with accounting disabled, plain `sacct` prints only an error (the backend reads stderr) ...
    assert fixture("slurm_sacct_disabled.txt").strip() == "Slurm accounting storage is disabled"
    # ... and `sacct -c` knows raw job ids only (array fields dropped, see its stderr)
    parsed = parse_sacct(fixture("slurm_sacct_c.txt"))
    assert states(parsed)["8"] == ("failed", 3)
    assert states(parsed)["7"] == ("finished", 0)
    assert parsed["16"].state == "cancelled"
    assert "Unknown type ArrayJobId" in fixture("slurm_sacct_c_stderr.txt")


def test_sacct_accounting_format_with_arrays_steps_and_signals():
    text = "5_0|COMPLETED|0:0\n5_1|FAILED|1:0\n5_[2-3]|CANCELLED by 1000|0:0\n5.batch|FAILED|1:0\n" \
           "6|TIMEOUT|0:15\n7|OUT_OF_MEMORY|0:125\n"
    parsed = parse_sacct(text)
    assert states(parsed) == {"5_0": ("finished", 0), "5_1": ("failed", 1), "5_2": ("cancelled", 0),
                              "5_3": ("cancelled", 0), "6": ("failed", 143), "7": ("failed", 253)}
    assert "TIMEOUT" in parsed["6"].detail and "signal 15" in parsed["6"].detail


def test_jobcomp_file_keeps_array_tasks_apart():
    parsed = parse_jobcomp(fixture("slurm_jobcomp.txt"))
    assert {f"9_{t}" for t in range(3)} <= set(parsed)
    assert all(parsed[f"9_{t}"].state == "finished" for t in range(3))
    assert states(parsed)["8"] == ("failed", 3)
    assert parsed["14"].state == "cancelled"      # a pending array cancelled as a whole: one record


@pytest.mark.parametrize("text", ["JobState=COMPLETED ExitCode=0:0\n", "JobId=x JobState=FAILED\n"])
def test_jobcomp_malformed_is_a_clear_error(text):
    with pytest.raises(SchedulerOutputError, match="job completion file"):
        parse_jobcomp(text)


@pytest.mark.parametrize("text, expected", [("768", (3, 0)), ("9", (0, 9)), ("0", (0, 0)),
                                            ("3:0", (3, 0)), ("0:15", (0, 15))])
def test_exit_parts(text, expected):
    assert exit_parts(text, "squeue") == expected


# --- PBS (hand-written from the documented format) -----------------------------------------------
def test_pbs_json_states():
    parsed = parse_qstat_json(fixture("pbs_qstat_mixed.json"))
    assert states(parsed) == {
        "101": ("running", None), "102": ("queued", None), "103": ("queued", None),
        "104[]": ("running", None), "104[1]": ("finished", 0), "104[2]": ("failed", 3),
        "104[3]": ("running", None), "104[4]": ("queued", None),
        "105": ("finished", 0), "106": ("failed", 3), "107": ("failed", 143),
        "108": ("cancelled", None), "109": ("cancelled", 271), "110": ("failed", -1),
        "111": ("running", None),
    }
    assert parsed["103"].detail == "held" and "signal 15" in parsed["107"].detail
    assert "could not run" in parsed["110"].detail


@pytest.mark.parametrize("text", ["", fixture("pbs_qstat_nojobs.json")])
def test_pbs_json_without_jobs(text):
    assert parse_qstat_json(text) == {}


@pytest.mark.parametrize("text", [
    fixture("pbs_qstat_mixed.json")[:500],
    fixture("pbs_qstat_unknown_stderr.txt"),
    '{"Jobs": []}',
    '{"Jobs": {"1.server": {"job_state": "Z"}}}',
    '{"Jobs": {"abc.server": {"job_state": "R"}}}',
    '[1, 2]',
])
def test_pbs_json_malformed_is_a_clear_error(text):
    with pytest.raises(SchedulerOutputError, match="qstat -f -F json"):
        parse_qstat_json(text)


def test_pbs_short_ids():
    assert short_id("123[4].headnode.example.org") == "123[4]"
    assert short_id("123[].headnode") == "123[]"
    assert short_id("123") == "123"


# --- shared --------------------------------------------------------------------------------------
def test_expand_tasks():
    assert expand_tasks("3", "x") == [3]
    assert expand_tasks("1-7:3", "x") == [1, 4, 7]
    assert expand_tasks("1,3,5-6", "x") == [1, 3, 5, 6]
    assert expand_tasks("0-3%2", "x") == [0, 1, 2, 3]
    with pytest.raises(SchedulerOutputError):
        expand_tasks("1-999999999", "x")
