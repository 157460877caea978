"""Errors a user can act on: each prints as one line and exits with code 2."""


class NeuroError(Exception):
    """A problem with the user's input (manifest, dataset, command line, run store).

    The message must say where the problem is (file, line, key or run) in one line.
    """

    exit_code = 2


class ManifestError(NeuroError):
    """A bad experiments.yaml key or value (or a component parameter), named with file and line."""


class RegistryError(NeuroError):
    """An unknown, duplicate or broken plugin registration."""


class DatasetError(NeuroError):
    """A dataset that is missing, malformed or inconsistent, named with its file or key."""


class StoreError(NeuroError):
    """A run store problem: a missing or damaged file, an unknown run, an unsafe name."""


class BackendError(NeuroError):
    """An execution backend refused a profile value or failed to submit, poll or cancel."""
