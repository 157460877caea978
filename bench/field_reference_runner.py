"""Train the field's reference standard model (neuralpredictors 0.3.0) on a static dataset.

Benchmark helper, run by ``bench/bench_field.py`` with the Python of ``bench/.venv-field`` (torch
and neuralpredictors live only there; nothing here is imported by neuro):

    bench/.venv-field/bin/python bench/field_reference_runner.py DATASET OUT.json [--epochs N] [--threads 2]

The settings are those of the Sensorium 2022 "standard" model (shared/reference/field-reference.md):
Stacked2dCore 4 x 64, 9 x 9 valid input kernel, depth-separable 7 x 7 hidden layers, batch norm,
ELU, LaplaceL2norm gamma 6.3831 on the first layer; FullGaussian2d readout (mu in +-0.3, sigma 0.1,
L1 0.0076 on the features, bias from the mean response); ELU + 1; Poisson loss scaled by
sqrt(n_train / batch); Adam 5e-3, batch 64; early stopping on the validation tier's correlation
with learning-rate decay 0.3, patience 5, 3 decay steps, restore best. Images z-scored with the
training tier's statistics, responses divided by each neuron's training-tier std. Channels-last
memory format, 2 threads. Scores on the test tier are computed with numpy at the end, defined as
neuro's test-tier scores (msc_neuro_cli/metrics/tier_scores.py) for a model whose prediction is
the same for every repeat of an image.
"""

from __future__ import annotations

import argparse
import collections
import collections.abc
import json
import sys
import time
import types
from pathlib import Path

import numpy as np

# neuralpredictors 0.3.0 imports torchvision at module level (for a core not used here) and
# Iterable/Mapping from collections (gone since Python 3.10).
for _name in ("torchvision", "torchvision.models"):
    sys.modules.setdefault(_name, types.ModuleType(_name))
collections.Iterable = collections.abc.Iterable
collections.Mapping = collections.abc.Mapping

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from neuralpredictors.layers.cores import Stacked2dCore  # noqa: E402
from neuralpredictors.layers.readouts import FullGaussian2d  # noqa: E402
from neuralpredictors.training import early_stopping  # noqa: E402


def load(root: Path):
    tiers = np.load(root / "meta/trials/tiers.npy").astype(str)
    image_ids = np.load(root / "meta/trials/frame_image_id.npy")
    images = np.stack([np.load(root / f"data/images/{t}.npy") for t in range(len(tiers))]).astype(np.float32)
    if images.ndim == 3:
        images = images[:, None]
    responses = np.stack([np.load(root / f"data/responses/{t}.npy") for t in range(len(tiers))]).astype(np.float32)
    return tiers, image_ids, images, responses


def correlations(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-column Pearson correlation (0 for a constant column)."""
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    norm = np.sqrt((a ** 2).sum(axis=0) * (b ** 2).sum(axis=0))
    return np.where(norm > 0, (a * b).sum(axis=0) / np.where(norm > 0, norm, 1), 0.0)


def test_scores(pred: np.ndarray, resp: np.ndarray, ids: np.ndarray) -> dict:
    """Scores of single-trial predictions ``pred`` (trials, neurons) of responses ``resp`` whose
    trials showed images ``ids`` (repeats share an id). Fraction of oracle: slope through the origin
    of the single-trial correlation against the leave-one-out oracle correlation over neurons."""
    groups = [np.flatnonzero(ids == u) for u in np.unique(ids)]
    avg_pred = np.stack([pred[g].mean(axis=0) for g in groups])
    avg_resp = np.stack([resp[g].mean(axis=0) for g in groups])
    single = correlations(pred, resp)
    loo = np.concatenate([(resp[g].sum(axis=0) - resp[g]) / (len(g) - 1) for g in groups])
    oracle = correlations(loo, np.concatenate([resp[g] for g in groups]))
    return {"test_correlation_to_average": float(correlations(avg_pred, avg_resp).mean()),
            "test_single_trial_correlation": float(single.mean()),
            "test_fraction_of_oracle": float((oracle * single).sum() / (oracle ** 2).sum())}


def predict(model, x: torch.Tensor, batch: int = 256) -> np.ndarray:
    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(x), batch):
            out.append(model(x[start:start + batch]).numpy())
    return np.concatenate(out)


class Standard(torch.nn.Module):
    def __init__(self, core, readout):
        super().__init__()
        self.core, self.readout = core, readout

    def forward(self, x):
        return F.elu(self.readout(self.core(x))) + 1

    def regularizer(self):
        return self.core.regularizer() + self.readout.regularizer()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dataset", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)

    tiers, image_ids, images, responses = load(args.dataset)
    train, val, test = (np.flatnonzero(tiers == t) for t in ("train", "validation", "test"))
    mean, std = images[train].mean(), images[train].std()
    scale = responses[train].std(axis=0)
    scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
    x = torch.from_numpy((images - mean) / std).contiguous(memory_format=torch.channels_last)
    y = torch.from_numpy(responses / scale)

    core = Stacked2dCore(input_channels=x.shape[1], hidden_channels=64, input_kern=9, hidden_kern=7, layers=4,
                         gamma_input=6.3831, gamma_hidden=0.0, skip=0, final_nonlinearity=True, bias=False,
                         momentum=0.9, pad_input=False, batch_norm=True, hidden_dilation=1, laplace_padding=None,
                         input_regularizer="LaplaceL2norm", stack=-1, depth_separable=True, linear=False,
                         use_avg_reg=False)
    with torch.no_grad():
        shape = core(x[:2]).shape[1:]
    readout = FullGaussian2d(in_shape=tuple(shape), outdims=y.shape[1], bias=True, init_mu_range=0.3,
                             init_sigma=0.1, gauss_type="full", feature_reg_weight=0.0076,
                             mean_activity=y[train].mean(dim=0))
    model = Standard(core, readout).to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="max", factor=0.3, patience=5,
                                                           threshold=1e-6, min_lr=1e-4, threshold_mode="abs")
    x_val, y_val = x[val], y[val].numpy()
    objective = lambda m: float(correlations(predict(m, x_val), y_val).mean())  # noqa: E731
    batch, n_train = 64, len(train)
    loss_scale = float(np.sqrt(n_train / batch))
    rng = np.random.default_rng(args.seed)
    epoch_seconds, curve = [], []
    started = time.perf_counter()
    for epoch, value in early_stopping(model, objective, interval=1, patience=5, start=0, max_iter=args.epochs,
                                       maximize=True, tolerance=1e-6, restore_best=True, scheduler=scheduler,
                                       lr_decay_steps=3):
        curve.append(value)
        model.train()
        tick = time.perf_counter()
        order = rng.permutation(n_train)
        for start in range(0, n_train, batch):
            rows = torch.from_numpy(train[order[start:start + batch]])
            optimizer.zero_grad()
            pred = model(x[rows])
            target = y[rows]
            loss = loss_scale * (pred - target * torch.log(pred + 1e-12)).sum() + model.regularizer()
            loss.backward()
            optimizer.step()
        epoch_seconds.append(time.perf_counter() - tick)
        # ``value`` is the validation correlation measured before this epoch's training
        print(f"reference epoch {epoch}: {epoch_seconds[-1]:.1f} s (validation r before it {value:.4f})", flush=True)
    total = time.perf_counter() - started
    pred = predict(model, x[test]) * scale
    scores = test_scores(pred, responses[test], image_ids[test])
    result = {"epochs": len(epoch_seconds), "seconds_total": total,
              "seconds_per_epoch": float(np.mean(epoch_seconds)) if epoch_seconds else None,
              "best_validation_correlation": objective(model), "validation_curve": curve,
              "threads": args.threads, "torch": torch.__version__, **scores}
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "validation_curve"}))


if __name__ == "__main__":
    main()
