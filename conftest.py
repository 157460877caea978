"""Settings for every test of the repository (core and plugins)."""

import os

# Installed trackers (neuro-mlflow) would log every run the tests train, at seconds per run:
# tests that exercise a tracker select it with NEURO_TRACKERS themselves.
os.environ.setdefault("NEURO_TRACKERS", "none")
