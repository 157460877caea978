"""Import TensorFlow without its start-up chatter on stderr.

TensorFlow 2.21 prints oneDNN and absl notices from C++ at import time, ignoring
TF_CPP_MIN_LOG_LEVEL; they would bury neuro's own one-line errors. Only the import is silenced:
messages printed later (real warnings and errors) still reach stderr.
"""

from __future__ import annotations

import os
import sys


def import_tensorflow():
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow
        import keras  # noqa: F401  (its import prints the same notices)
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    return tensorflow
