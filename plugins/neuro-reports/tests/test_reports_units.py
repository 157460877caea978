"""neuro-reports pieces that need no training: statistics against numpy, the thesis pipeline's event layout,
HTML escaping, TensorBoard arguments, and conv filters of a real Keras model."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest

from msc_neuro_cli.api import COMMON_PARAMS, StoreError, installed_registries as registries, resolve_params
from neuro_reports import api, events, html, stats, tensorboard

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def test_curve_quantiles_match_numpy_percentiles():
    import pandas as pd

    rng = np.random.default_rng(3)
    values = rng.random((7, 4))  # 7 repetitions, 4 steps
    rows = [{"run_id": "f/ex0", "rep": r, "epoch": e * 10, "val_correlation": values[r, e]}
            for r in range(7) for e in range(4)]
    rows.append({"run_id": "f/ex0", "rep": 7, "epoch": 0, "val_correlation": 0.9})  # one extra rep at step 0
    for median_mode, expected in ((True, (90, 10, 50, 25)), (False, (95, 5, 75, 25))):
        q = stats.curve_quantiles(pd.DataFrame(rows), stats.quantile_set(median_mode))
        assert list(q.epoch) == [0, 10, 20, 30] and list(q.n) == [8, 7, 7, 7]
        step0 = np.append(values[:, 0], 0.9)
        top, bottom, mid, extra = expected
        assert q.top[0] == pytest.approx(np.percentile(step0, top))
        assert q["mid"][2] == pytest.approx(np.percentile(values[:, 2], mid))
        assert q.bottom[3] == pytest.approx(np.percentile(values[:, 3], bottom))
        assert q.extra[1] == pytest.approx(np.percentile(values[:, 1], extra))


def test_final_quantiles_and_fraction_of_ceiling():
    v = [0.1, 0.5, 0.3, float("nan"), 0.2]
    f = stats.final_quantiles(v, stats.MEDIAN_MODE)
    clean = np.array([0.1, 0.5, 0.3, 0.2])
    assert f == {"mid": pytest.approx(np.median(clean)), "top": pytest.approx(np.percentile(clean, 90)),
                 "bottom": pytest.approx(np.percentile(clean, 10)), "n": 4}
    corr = np.array([0.2, 0.4, np.nan, 0.1])
    ceiling = np.array([0.5, 0.8, 0.9, np.nan])
    ok = np.isfinite(corr) & np.isfinite(ceiling)
    slope, *_ = np.linalg.lstsq(ceiling[ok, None], corr[ok], rcond=None)
    assert stats.fraction_of_ceiling(corr, ceiling) == pytest.approx(slope[0])


def test_mann_whitney_against_a_direct_rank_count():
    from scipy.stats import norm

    a = np.array([0.51, 0.48, 0.55, 0.53, 0.50, 0.56])
    b = np.array([0.41, 0.45, 0.47, 0.43, 0.49])
    u, p = stats.mann_whitney(a, b)
    u_direct = sum((x > y) + 0.5 * (x == y) for x in a for y in b)
    assert u == pytest.approx(u_direct) == 29
    # no ties: scipy's exact two-sided p for small samples is below the normal approximation's bound
    z = (u_direct - len(a) * len(b) / 2) / math.sqrt(len(a) * len(b) * (len(a) + len(b) + 1) / 12)
    assert 0 < p < 0.05 and p == pytest.approx(2 * norm.sf(z), abs=0.02)
    assert stats.mann_whitney([0.3, 0.3], [0.3]) == (1.0, 1.0)  # all tied
    assert all(math.isnan(x) for x in stats.mann_whitney([], [0.2]))


def test_marginals_pool_the_other_axes():
    import pandas as pd

    frame = pd.DataFrame({"hp_hidden": [0.2, 0.2, 0.4, 0.4, 0.2], "hp_reg": ["l1", "l2", "l1", "l2", "l1"],
                          "hp_fixed": [1, 1, 1, 1, 1], "val_correlation": [0.1, 0.2, 0.3, 0.4, 0.5]})
    assert stats.grid_axes(frame) == ["hp_hidden", "hp_reg"]
    groups = dict(stats.marginal(frame, "hp_hidden"))
    assert list(groups) == ["0.2", "0.4"]
    np.testing.assert_allclose(groups["0.2"], [0.1, 0.2, 0.5])
    np.testing.assert_allclose(dict(stats.marginal(frame, "hp_reg"))["l2"], [0.2, 0.4])


def test_html_escapes_user_values_and_embeds_pngs(tmp_path):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1])
    png = tmp_path / "a.png"
    fig.savefig(png)
    plt.close(fig)
    page = html.page("<x>", [html.section("s", [html.table([{"name": "<script>alert(1)</script>", "v": 0.12345}]),
                                              html.figure(png, "cap & more")])])
    assert "<script>alert" not in page and "&lt;script&gt;" in page and "0.123" in page
    assert 'src="data:image/png;base64,' in page and 'href="a.png"' in page and "cap &amp; more" in page


def _write_seed_events(rep_dir: Path, values: list[tuple[int, float]], tf1: bool) -> None:
    """Event files as the thesis pipeline's TF1 NDN3 wrote them (simple_value) or as tf.summary in TF2 writes them."""
    for split, shift in (("test", 0.0), ("train", 0.1)):
        folder = rep_dir / "summaries" / split
        folder.mkdir(parents=True)
        if tf1:
            from tensorboard.compat.proto.event_pb2 import Event
            from tensorboard.compat.proto.summary_pb2 import Summary
            from tensorboard.summary.writer.event_file_writer import EventFileWriter

            writer = EventFileWriter(str(folder))
            for step, value in values:
                summary = Summary(value=[Summary.Value(tag=events.CORRELATION_TAG, simple_value=value + shift)])
                writer.add_event(Event(step=step, wall_time=1000.0 + step, summary=summary))
            writer.close()
        else:
            import tensorflow as tf

            writer = tf.summary.create_file_writer(str(folder))
            with writer.as_default():
                for step, value in values:
                    tf.summary.scalar(events.CORRELATION_TAG, value + shift, step=step)
            writer.close()


@pytest.mark.slow
def test_runs_of_the_seeds_pipeline_are_read_from_ledger_and_events(tmp_path):
    store = tmp_path / "training_data"
    store.mkdir()
    (store / "experiments.txt").write_text(
        "# a comment the thesis pipeline's reader skips\n"
        "experiments_2/bs3_exp5x3/baseline3_l11e-07xN0.2x5000\n"
        "baseline/b1/baseline1\n")
    curves = {0: [(0, 0.1), (99, 0.3), (199, 0.45)], 1: [(0, 0.05), (99, 0.25), (199, 0.4)]}
    for rep, values in curves.items():
        _write_seed_events(store / "logs/experiments_2/bs3_exp5x3" / f"24-07_10-11-1{rep}_baseline3_l11e-07xN0.2x5000__{rep}",
                           values, tf1=(rep == 0))
    _write_seed_events(store / "logs/baseline/b1/01-01_00-00-00_baseline1__0", [(0, 0.2), (99, 0.33)], tf1=True)
    # a restarted repetition 0 of b1: its older folder must be ignored
    older = store / "logs/baseline/b1/31-12_00-00-00_baseline1__0"
    _write_seed_events(older, [(0, 0.9)], tf1=True)
    os.utime(older, (0, 0))

    frame = api.load_curves(store)
    assert set(frame.source) == {"seed"}
    exp5 = frame[frame.run_id == "experiments_2/bs3_exp5x3"].sort_values(["rep", "epoch"])
    assert list(exp5.epoch) == [0, 99, 199, 0, 99, 199]
    np.testing.assert_allclose(exp5.val_correlation, [v for rep in (0, 1) for _, v in curves[rep]], atol=1e-6)
    np.testing.assert_allclose(exp5.train_correlation, exp5.val_correlation + 0.1, atol=1e-6)
    assert set(exp5.experiment) == {"bs3_exp5"} and set(exp5.run) == {3}

    runs = api.load_runs(store, ["bs3_exp5", "baseline/b1"])
    assert list(runs.run_id) == ["baseline/b1", "experiments_2/bs3_exp5x3", "experiments_2/bs3_exp5x3"]
    assert runs.val_correlation.tolist() == pytest.approx([0.33, 0.45, 0.4], abs=1e-6)
    assert runs.epochs.tolist() == [100, 200, 200]
    with pytest.raises(StoreError, match="no finished runs of 'nope'.*bs3_exp5"):
        api.load_runs(store, ["nope"])


def test_tensorboard_arguments_name_each_run_or_fall_back(tmp_path):
    a, b = tmp_path / "logs/f/ex0", tmp_path / "logs/f/ex1"
    assert tensorboard.logdir_arguments({"ex0": a}) == ["--logdir", str(a)]
    assert tensorboard.logdir_arguments({"ex0": a, "ex1": b}) == ["--logdir_spec", f"ex0:{a},ex1:{b}"]
    comma = tmp_path / "logs/f/base_[1,2]x0"
    assert tensorboard.logdir_arguments({"x": comma, "ex1": b}) == ["--logdir", str(tmp_path / "logs/f")]


def test_conv_kernels_of_a_real_keras_model_become_filter_images(tmp_path):
    """A genuine conv component (SAME conv2d, weights with the replica axis) through export_replica."""
    import tensorflow as tf

    from msc_neuro_cli.api.layers import ReplicatedLayer
    from msc_neuro_cli.api.layers import export_replica
    from neuro_reports import figures
    from neuro_reports.filters import model_filters

    class TinyConv(ReplicatedLayer):
        def weight_shapes(self):
            return {"kernel": (3, 3, 1, 4), "bias": (4,)}

        def output_dims(self):
            return (self.input_dims[0], self.input_dims[1], 4)

        def forward(self, x, training):
            y, w, _ = self.input_dims
            images = tf.reshape(x[0], (-1, y, w, 1))
            out = tf.nn.conv2d(images, self.weight("kernel")[0], 1, "SAME") + self.weight("bias")[0]
            return tf.reshape(out, (1, -1, self.out_features))

    layer = TinyConv({"activation": "lin"}, (6, 6, 1), replicas=2, components=registries().components)
    layer.build()
    kernel = np.arange(2 * 3 * 3 * 4, dtype=np.float32).reshape(2, 3, 3, 1, 4)
    layer.set_weights([kernel, np.zeros((2, 4), np.float32)])
    model = export_replica([layer], 1)
    found = model_filters(model)
    assert [(f.kind, f.images.shape) for f in found] == [("conv", (4, 3, 3))]
    np.testing.assert_array_equal(found[0].images[2], kernel[1, :, :, 0, 2])
    path = figures.filter_grid(found[0].images, tmp_path / "conv.png", "conv")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_dense_layer_on_an_image_gives_receptive_fields_and_dog_layers_use_dog_filters():
    from msc_neuro_cli.api.layers import export_replica
    from neuro_dense.normal import Dense
    from neuro_frontends.dog import DifferenceOfGaussians, dog_filters
    from neuro_reports.filters import model_filters


    comps = registries().components
    full = lambda cls, given: resolve_params({**COMMON_PARAMS, **cls.PARAMS}, given, str)  # noqa: E731
    dog = DifferenceOfGaussians(full(DifferenceOfGaussians, {"units": 2}), (7, 7, 1), replicas=2, components=comps)
    dense = Dense(full(Dense, {"units": 3}), (7, 7, 1), replicas=2, components=comps)
    for layer in (dog, dense):
        layer.build()
    params = np.array([[1, 2, 3, 3, 0.5, 2, 3, 3], [2, 1, 2, 4, 1, 3, 2, 4]], np.float32).T  # (8, K=2)
    dog.set_weights([np.stack([params * 0, params]), np.zeros((2, 2), np.float32)])
    kernel = np.random.default_rng(0).normal(size=(2, 49, 3)).astype(np.float32)
    dense.set_weights([kernel, np.zeros((2, 3), np.float32)])

    found = model_filters(export_replica([dog], 1))
    expected = np.asarray(dog_filters(params[None], 7, 7))[0]  # (49, K)
    assert [(f.kind, f.images.shape) for f in found] == [("dog", (2, 7, 7))]
    np.testing.assert_allclose(found[0].images[1], expected[:, 1].reshape(7, 7), rtol=1e-6)
    # an independent numpy DoG of unit 0: G(a1, s1) - G(a2, s1 + s2), concentric, s as a variance
    yy, xx = np.mgrid[0:7, 0:7]
    g = lambda a, s: a * np.exp(-((xx - 3) ** 2 + (yy - 3) ** 2) / (2 * s)) / (2 * np.pi * s)  # noqa: E731
    np.testing.assert_allclose(found[0].images[0], g(1, 2) - g(0.5, 4), rtol=1e-5, atol=1e-7)

    found = model_filters(export_replica([dense], 0))
    assert [(f.kind, f.images.shape) for f in found] == [("dense", (3, 7, 7))]
    np.testing.assert_array_equal(found[0].images[2], kernel[0, :, 2].reshape(7, 7))


def test_reference_lines_only_for_the_antolik_data():
    from neuro_reports.anchors import reference_lines

    lines = dict(reference_lines("antolik2016", ["region1"]))
    assert lines["HSM Antolík 2016, median of 100 seeds"] == 0.479 and lines["Klindt 2017, best CNN"] == 0.55
    assert dict(reference_lines("antolik2016", ["region1", "region2"]))["HSM Antolík 2016, median of 100 seeds"] == 0.448
    assert reference_lines("synthetic", ["region1"]) == []


def test_conv_dog_and_conv_components_give_kernel_images():
    """The real conv_diff_of_gaussians and conv components of neuro_frontends, if installed."""
    conv_dog = pytest.importorskip("neuro_frontends.conv_dog")
    conv = pytest.importorskip("neuro_frontends.conv")
    from msc_neuro_cli.api.layers import export_replica
    from neuro_reports.filters import model_filters

    comps = registries().components
    cdog_cls = conv_dog.ConvDifferenceOfGaussians
    conv_cls = next(v for v in vars(conv).values() if isinstance(v, type) and v.__module__ == conv.__name__
                    and "kernel_shape" in vars(v))
    cdog = cdog_cls(resolve_params({**COMMON_PARAMS, **cdog_cls.PARAMS}, {"filters": 3, "width": 5}, str),
                    (9, 9, 1), replicas=1, components=comps)
    cnv = conv_cls(resolve_params({**COMMON_PARAMS, **conv_cls.PARAMS}, {"filters": 2, "width": 3}, str),
                   (9, 9, 1), replicas=1, components=comps)
    for layer in (cdog, cnv):
        layer.build()
        layer.initialise([np.random.default_rng(1)])
    found = model_filters(export_replica([cdog], 0))
    assert [(f.kind, f.images.shape) for f in found] == [("conv-dog", (3, 5, 5))]
    kernels = np.asarray(cdog.filters())[0, :, :, 0, :]
    np.testing.assert_allclose(found[0].images[1], kernels[:, :, 1], rtol=1e-6)
    found = model_filters(export_replica([cnv], 0))
    assert [(f.kind, f.images.shape) for f in found] == [("conv", (2, 3, 3))]
    np.testing.assert_array_equal(found[0].images[0], np.asarray(cnv.get_weights()[0])[0, :, :, 0, 0])
