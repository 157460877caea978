"""Each hook, exercised by a real plugin through the same registries users go through."""

from __future__ import annotations

import types

import numpy as np
import pytest

from msc_neuro_cli.testing import make_plugin_dist, neuro

from msc_neuro_cli import hookimpl
from msc_neuro_cli.errors import NeuroError
from msc_neuro_cli.plugin_system.manager import build_registries


def _plugin(name: str, **hooks) -> types.ModuleType:
    module = types.ModuleType(name)
    for hook, fn in hooks.items():
        setattr(module, hook, hookimpl(fn))
    return module


def test_register_components():
    from msc_neuro_cli.engine.model import ComponentSpec, assemble
    from neuro_dense.normal import Dense

    class Doubled(Dense):
        def forward(self, x, training):
            return 2.0 * super().forward(x, training)

    def register_components(registry):
        registry.layer("doubled", Doubled)
        registry.activation("square", lambda t: t * t)

    regs = build_registries((_plugin("ext_components", register_components=register_components),))
    assert regs.components.layers.get("doubled") is Doubled
    layers = assemble([ComponentSpec("doubled", {"units": "N", "activation": "square"}, "test")],
                      (1, 1, 4), 3, 2, regs.components)
    x = np.ones((2, 5, 4), np.float32)
    w = np.stack([np.full((4, 3), 0.5), np.full((4, 3), -1.0)]).astype(np.float32)
    layers[0].weight("kernel").assign(w)
    out = layers[0](x).numpy()
    np.testing.assert_allclose(out[0], np.full((5, 3), (2 * 2.0) ** 2))
    np.testing.assert_allclose(out[1], np.full((5, 3), (2 * -4.0) ** 2))
    entry = [e for e in regs.components.layers.entries() if e.name == "doubled"][0]
    assert entry.plugin == "ext_components"


def test_register_backends():
    from msc_neuro_cli.runs.backend import Backend
    from msc_neuro_cli.spec.manifest import Manifest
    from msc_neuro_cli.plugin_system.params import Param
    from msc_neuro_cli.runs.profiles import resolve_backend

    class Echo(Backend):
        PARAMS = {"queue": Param(str, "short")}

    regs = build_registries((_plugin("ext_backends", register_backends=lambda registry: registry.add("echo", Echo)),))
    manifest = Manifest(path=__import__("pathlib").Path("m.yaml"), experiments={},
                        profiles={"echo-long": {"backend": "echo", "queue": "long"}}, aliases={})
    backend = resolve_backend("echo-long", manifest, regs)
    assert isinstance(backend, Echo) and backend.profile == {"queue": "long"}
    with pytest.raises(Exception, match="unknown backend 'nope'"):
        resolve_backend("nope", manifest, regs)


def test_register_datasets(tmp_path):
    from msc_neuro_cli.datasets.contract import Dataset, DatasetSource
    from msc_neuro_cli.plugin_system.params import Param

    class Constant(DatasetSource):
        PARAMS = {"neurons": Param(int, 2)}

        def load(self):
            n = self.params["neurons"]
            x = np.ones((4, 9), np.float32)
            return Dataset(x, np.ones((4, n), np.float32), x, np.ones((4, n), np.float32), (3, 3, 1))

    regs = build_registries((_plugin("ext_data", register_datasets=lambda registry: registry.add("constant", Constant)),))
    source = regs.datasets.get("constant")({"neurons": 5}, tmp_path)
    assert source.load().n_neurons == 5


def test_register_commands(tmp_path):
    site = tmp_path / "site"
    make_plugin_dist(site, "neuro-hello", "neuro_hello", """
        import typer
        from msc_neuro_cli import hookimpl

        def hello(name: str = typer.Option("world", help="who")):
            print(f"hello {name}")

        @hookimpl
        def register_commands(registry):
            registry.add("greet hello", hello, help="Say hello.")
        """)
    proc = neuro("greet", "hello", "--name", "V1", cwd=tmp_path, env={"PYTHONPATH": str(site)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "hello V1"


def test_layers_resolve_names_in_the_registry_their_hook_filled(tmp_path):
    """No process-wide lookup: a layer built by ``assemble`` uses the registry it is given, and a
    layer Keras rebuilds from a file uses the registry that registered its class."""
    import keras

    from msc_neuro_cli.api import RegistryError
    from msc_neuro_cli.api.layers import ReplicatedLayer, assemble, export_replica, ComponentSpec
    from neuro_dense.normal import Dense

    @keras.saving.register_keras_serializable(package="test_hooks")
    class Cubed(Dense):
        pass

    def register_components(registry):
        registry.layer("cubed", Cubed)
        registry.activation("cube", lambda t: t * t * t)  # known to this registry only

    regs = build_registries((_plugin("ext_cube", register_components=register_components),))
    assert Cubed.home_registry is regs.components
    layers = assemble([ComponentSpec("cubed", {"units": 2, "activation": "cube"}, "test")], (1, 1, 3), 2, 1,
                      regs.components)
    layers[0].initialise([np.random.default_rng(0)])
    x = np.random.default_rng(1).normal(size=(4, 3)).astype(np.float32)
    w, b = (np.asarray(v)[0] for v in layers[0].get_weights())
    path = tmp_path / "cubed.keras"
    export_replica(layers, 0).save(path)
    reloaded = keras.models.load_model(path)
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), (x @ w + b) ** 3, rtol=1e-5, atol=1e-6)

    @keras.saving.register_keras_serializable(package="test_hooks")
    class Unregistered(ReplicatedLayer):
        def weight_shapes(self):
            return {}

    with pytest.raises(RegistryError, match="has no component registry"):
        Unregistered({}, (1, 1, 3)).components()


def test_register_samplers(tmp_path):
    from msc_neuro_cli.api import SearchSampler
    from msc_neuro_cli.runs.search import sampler_for
    from msc_neuro_cli.spec.manifest import load_manifest

    class LowEnds(SearchSampler):  # proposes each range's low end, then steps up by the trials seen
        def suggest(self, trial, finished):
            return {name: dim.low + len(finished) * (dim.step or 1) for name, dim in self.search.space.items()}

    (tmp_path / "experiments.yaml").write_text(
        "version: 1\nexperiments:\n  s:\n    dataset: {name: synthetic}\n    model: [{component: normal, units: N}]\n"
        "    search: {sampler: low_ends, trials: 2, space: {units: {low: 2, high: 8, step: 3}}}\n")
    search = load_manifest(tmp_path / "experiments.yaml").get("s").search
    regs = build_registries((_plugin("ext_samplers", register_samplers=lambda registry: registry.add("low_ends", LowEnds)),))
    assert ("low_ends", "ext_samplers") in [(e.name, e.plugin) for e in regs.samplers.entries()]
    sampler = sampler_for(search, regs)
    assert sampler.suggest(0, []) == {"units": 2} and sampler.suggest(1, [(0, {"units": 2}, 0.5)]) == {"units": 5}
    other = search.__class__(**{**search.__dict__, "sampler": "grid"})
    with pytest.raises(NeuroError, match=r"experiments\.s\.search\.sampler: unknown sampler 'grid' \(available: .*low_ends"):
        sampler_for(other, regs)


def test_register_trackers(tmp_path, monkeypatch):
    from msc_neuro_cli.runs.tracking import Tracker, notify_trackers
    from msc_neuro_cli.store.run_store import RunStore

    seen = []

    class Recording(Tracker):
        def run_finished(self, store, run_id, record):
            seen.append((store.root, str(run_id), record["name"]))

    regs = build_registries((_plugin("ext_trackers", register_trackers=lambda registry: registry.add("rec", Recording)),))
    assert ("rec", "ext_trackers") in [(e.name, e.plugin) for e in regs.trackers.entries()]
    monkeypatch.setenv("NEURO_TRACKERS", "rec")  # only this one, whatever else is installed
    store = RunStore(tmp_path / "store")
    assert notify_trackers(store, "f/tinyx1", {"name": "hsm"}, regs.trackers) == []
    assert seen == [(store.root, "f/tinyx1", "hsm")]
