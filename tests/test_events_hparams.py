"""TensorBoard hparams summaries: read back by TensorBoard's own hparams plugin, which compares runs."""

from __future__ import annotations

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from msc_neuro_cli.store.events import CORRELATION_TAG, HPARAMS_METRICS, LOSS_TAG, ScalarWriter, write_hparams


def _write_repetition(base, values, trial_id, val_curve, loss_curve):
    """A repetition's layout as the worker writes it: summaries/{train,test} scalars, hparams beside."""
    train, test = ScalarWriter(base / "train"), ScalarWriter(base / "test")
    for epoch, (val, loss) in enumerate(zip(val_curve, loss_curve)):
        test.scalar(CORRELATION_TAG, val, epoch)
        train.scalar(CORRELATION_TAG, val / 2, epoch)
        train.scalar(LOSS_TAG, loss, epoch)
    train.close()
    test.close()
    write_hparams(base, values, trial_id)


def _session_groups(logdir):
    from tensorboard import context
    from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
    from tensorboard.plugins import base_plugin
    from tensorboard.plugins.hparams import api_pb2, backend_context, get_experiment, list_session_groups

    mux = plugin_event_multiplexer.EventMultiplexer()
    mux.AddRunsFromDirectory(str(logdir))
    mux.Reload()
    provider = data_provider.MultiplexerDataProvider(mux, str(logdir))
    tb = backend_context.Context(base_plugin.TBContext(logdir=str(logdir), multiplexer=mux, data_provider=provider))
    request = api_pb2.ListSessionGroupsRequest(start_index=0, slice_size=100,
                                               allowed_statuses=[api_pb2.STATUS_UNKNOWN])
    experiment = get_experiment.Handler(context.RequestContext(), tb, "", api_pb2.GetExperimentRequest()).run()
    return experiment, list_session_groups.Handler(context.RequestContext(), tb, "", request).run().session_groups


def test_hparams_dashboard_compares_the_runs_of_a_grid(tmp_path):
    rng = np.random.default_rng(0)
    curves = {}
    for run, hidden in (("tinyx0", 0.5), ("tinyx1", 1.0)):
        for rep in (0, 1):
            val, loss = rng.random(4), rng.random(4) * 5
            curves[(run, rep)] = (val, loss)
            _write_repetition(tmp_path / run / f"hsm__{rep}" / "summaries",
                              {"hidden": hidden, "activation": "softplus", "batch_norm": rep == 0},
                              f"testfolder/{run}", val, loss)

    experiment, groups = _session_groups(tmp_path)
    assert sorted(h.name for h in experiment.hparam_infos) == ["activation", "batch_norm", "hidden"]
    assert {m.display_name: (m.name.group, m.name.tag) for m in experiment.metric_infos} == HPARAMS_METRICS

    assert sorted(g.name for g in groups) == ["testfolder/tinyx0", "testfolder/tinyx1"]
    for group in groups:
        run = group.name.split("/")[1]
        assert group.hparams["hidden"].number_value == {"tinyx0": 0.5, "tinyx1": 1.0}[run]
        assert group.hparams["activation"].string_value == "softplus"
        assert sorted(s.name for s in group.sessions) == [f"{run}/hsm__0/summaries", f"{run}/hsm__1/summaries"]
        for session in group.sessions:
            rep = int(session.name.split("__")[1].split("/")[0])
            val, loss = curves[(run, rep)]
            final = {(m.name.group, m.name.tag): (m.value, m.training_step) for m in session.metric_values}
            # the dashboard shows each scalar's last value: the repetition's final epoch
            assert final[("test", CORRELATION_TAG)] == (np.float32(val[-1]), 3)
            assert final[("train", CORRELATION_TAG)] == (np.float32(val[-1] / 2), 3)
            assert final[("train", LOSS_TAG)] == (np.float32(loss[-1]), 3)


def test_hparams_summary_leaves_the_plain_scalars_alone(tmp_path):
    """TF1-era readers still find simple_value scalars in summaries/train; the hparams protos sit
    in summaries/ with the hparams plugin's name."""
    from tensorboard.plugins.hparams import metadata

    _write_repetition(tmp_path / "summaries", {"hidden": 0.5}, "f/ex0", [0.1, 0.2], [3.0, 2.0])
    train = EventAccumulator(str(tmp_path / "summaries" / "train"))
    train.Reload()
    assert [e.value for e in train.Scalars(CORRELATION_TAG)] == [np.float32(0.05), np.float32(0.1)]
    with pytest.raises(KeyError):  # no hparams data among the scalars
        train.PluginTagToContent(metadata.PLUGIN_NAME)

    top = EventAccumulator(str(tmp_path / "summaries"))
    top.Reload()
    content = top.PluginTagToContent(metadata.PLUGIN_NAME)
    start = metadata.parse_session_start_info_plugin_data(content[metadata.SESSION_START_INFO_TAG])
    assert start.group_name == "f/ex0" and start.hparams["hidden"].number_value == 0.5
    assert top.Tags()["scalars"] == []
