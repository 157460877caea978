"""The field comparison as a markdown table, against a synthetic dataset's true ceiling.

    .venv/bin/python bench/field_table.py field_comparison --data data/synthetic_static_small [--store DIR]

Reads ``neuro compare RUNS --json`` (test-tier medians over repetitions) and the dataset's
``ground_truth.json`` (written by ``neuro data synth --kind static``: per neuron the correlation of
the noise-free rates with the trial-averaged responses) and prints one row per run: median test
correlation to the trial average with its 10th-90th percentiles, single-trial correlation, FEVE,
fraction of oracle, and the fraction of the true ceiling (median test r over the mean ceiling over
neurons: the test r is itself a mean over neurons). Not a test; real recordings have no true
ceiling (use the fraction of oracle there).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

COLUMNS = ("model", "reps", "test r (median)", "p10-p90", "single-trial r", "FEVE", "fraction of oracle",
           "fraction of true ceiling", "epochs", "training s")


def compare_rows(runs: list[str], store: Path | None) -> list[dict]:
    cmd = [sys.executable, "-m", "msc_neuro_cli", "compare", *runs, "--tier", "test", "--json"]
    if store:
        cmd += ["--store", str(store)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"neuro compare failed: {done.stderr.strip().splitlines()[-1] if done.stderr else done.returncode}")
    return json.loads(done.stdout)


def true_ceiling(data: Path) -> float:
    truth = data / "ground_truth.json"
    if not truth.exists():
        raise SystemExit(f"{truth}: no ground truth (only `neuro data synth --kind static` writes one)")
    return float(json.loads(truth.read_text())["ceiling"]["trial_average"]["mean"])


def markdown(rows: list[dict], ceiling: float) -> str:
    def number(value, digits=3):
        return "-" if value is None else f"{value:.{digits}f}"

    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        cells = [row["name"], str(row["reps"]), number(row["median"]), f"{number(row['p10'])}-{number(row['p90'])}",
                 number(row.get("single_trial")), number(row.get("feve")), number(row.get("fraction_of_oracle")),
                 number(row["median"] / ceiling), str(row.get("epochs", "-")), number(row.get("train_seconds"), 0)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="experiments or run ids, as for neuro compare")
    parser.add_argument("--data", type=Path, required=True, help="the synthetic static dataset the runs trained on")
    parser.add_argument("--store", type=Path, help="run store (default: neuro's)")
    args = parser.parse_args()
    ceiling = true_ceiling(args.data)
    print(markdown(compare_rows(args.runs, args.store), ceiling))
    print(f"\ntrue ceiling of {args.data}: {ceiling:.3f} (mean over neurons, correlation to the trial average)")


if __name__ == "__main__":
    main()
