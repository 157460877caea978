"""Errors a user can act on: each prints as one line and exits with code 2."""


class NeuroError(Exception):
    """A problem with the user's input (manifest, dataset, command line, run store).

    The message must say where the problem is (file, line, key or run) in one line.
    """

    exit_code = 2


class ManifestError(NeuroError):
    pass


class RegistryError(NeuroError):
    pass


class DatasetError(NeuroError):
    pass


class StoreError(NeuroError):
    pass


class BackendError(NeuroError):
    pass
