"""Loading a saved repetition (``models/.../{name}__{rep}.keras``) outside the trainer."""

from __future__ import annotations

from pathlib import Path

from msc_neuro_cli.errors import StoreError


def register_all_layers() -> None:
    """Import every component plugin's layer classes so Keras can deserialise them."""
    from msc_neuro_cli.plugin_system.manager import registries

    for entry in registries().components.layers.entries():
        entry.obj  # noqa: B018  (resolving a lazy reference imports and registers the class)


def load_model(path: Path | str):
    """A saved model as a plain Keras model: (images, pixels) -> (images, neurons).

    Equivalent to ``keras.models.load_model(path, compile=False)`` once the component plugins
    are imported; errors (a missing file, a model from a missing plugin) are one-line StoreErrors.
    """
    register_all_layers()
    import keras

    from msc_neuro_cli.engine.keras_names import legacy_scope

    path = Path(path)
    if not path.is_file():
        raise StoreError(f"model file {path} is missing")
    try:
        with legacy_scope():  # models saved before per-plugin Keras names call built-ins neuro>Class
            return keras.models.load_model(str(path), compile=False)
    except Exception as exc:  # Keras raises many types for a bad file; report it in one line
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StoreError(f"{path}: cannot load the model ({reason})") from None
