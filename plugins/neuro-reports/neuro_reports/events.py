"""Reading TensorBoard event files: scalars of one tag, from the thesis pipeline's TF1 files or our TF2 ones.

The thesis pipeline (TF 1, NDN3) wrote ``simple_value`` scalars; ``tf.summary.scalar`` in TF 2 writes
one-element tensors. Both are read here with TensorBoard's own loader, without importing
TensorFlow. A folder may hold several event files (a run restarted or resumed): they are read in
name order (their names start with the creation time) and a step written twice keeps its last value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from msc_neuro_cli.api import StoreError

CORRELATION_TAG = "loss/correlation/correlation"
LOSS_TAG = "loss/cost"

# the thesis pipeline's TensorBoard folder of repetition i: "{%d-%m_%H-%M-%S}_{name}__{i}" (ours: "{name}__{i}")
TIMESTAMP = r"\d{2}-\d{2}_\d{2}-\d{2}-\d{2}_"


@dataclass(frozen=True)
class Scalar:
    step: int
    wall_time: float
    value: float


def event_files(folder: Path) -> list[Path]:
    return sorted(p for p in Path(folder).glob("events.out.tfevents*") if p.is_file())


def read_scalars(folder: Path, tag: str = CORRELATION_TAG) -> list[Scalar]:
    """Scalars of ``tag`` in every event file of ``folder``, one per step, in step order."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    from tensorboard.util import tensor_util

    by_step: dict[int, Scalar] = {}
    for path in event_files(folder):
        try:
            for event in EventFileLoader(str(path)).Load():
                for value in event.summary.value:
                    if value.tag != tag:
                        continue
                    if value.HasField("simple_value"):
                        number = float(value.simple_value)
                    elif value.HasField("tensor"):
                        number = float(tensor_util.make_ndarray(value.tensor).reshape(-1)[0])
                    else:
                        continue
                    by_step[int(event.step)] = Scalar(int(event.step), float(event.wall_time), number)
        except Exception as exc:  # a corrupt or truncated file: name it
            raise StoreError(f"{path}: unreadable TensorBoard event file ({type(exc).__name__}: {exc})") from None
    return [by_step[s] for s in sorted(by_step)]


def repetition_dirs(exp_logs: Path, name: str) -> dict[int, Path]:
    """Repetition index -> log folder of run ``name`` under ``logs/{folder}/{exp}``.

    Accepts our ``{name}__{i}`` and the thesis pipeline's timestamped ``{time}_{name}__{i}``; if a repetition
    has several timestamped folders (it was restarted) the newest one wins.
    """
    pattern = re.compile(rf"^(?:{TIMESTAMP})?{re.escape(name)}__(\d+)$")
    found: dict[int, Path] = {}
    if not Path(exp_logs).is_dir():
        return found
    for child in sorted(Path(exp_logs).iterdir(), key=lambda p: (p.stat().st_mtime, p.name)):
        match = pattern.match(child.name)
        if match and child.is_dir():
            found[int(match.group(1))] = child
    return dict(sorted(found.items()))


def summaries(rep_dir: Path, split: str) -> Path:
    """The train or test writer's folder of one repetition (``summaries/{split}``)."""
    return Path(rep_dir) / "summaries" / split
