"""The ground-truth model behind the synthetic static dataset (``neuro data synth --kind static``).

Every trial t shows a grey image (H x W, levels 0..255, contrast ``c = pixel / 127.5 - 1``) and
records 3 behaviour variables ``b_t`` and a pupil centre ``p_t``. Noise-free response of neuron n:

1. Feature map, a fixed 2-layer convolution with rectification ('same' zero padding):
   ``a1 = relu(conv(c, G))`` with G = 16 Gabor filters of 9 x 9 (zero mean, unit L2 norm, random
   orientation, wavelength, phase); ``a2[k] = relu(sum_j conv(a1[j], V[k, j]) - beta[k])`` with
   V = 16 x 16 random 3 x 3 kernels (Gaussian, each output channel's kernel unit L2 norm) and
   ``beta[k]`` the median of the pre-activation over the first 128 training images (about half silent).
2. Point readout: neuron n reads ``a2`` at ``q_nt = clip(mu_n + S z(p_t), -1, 1)`` in normalised
   coordinates (x to the right, y down, -1 .. 1 over the pixel centres: ``align_corners=True``),
   by bilinear interpolation, and weighs the 16 channels with ``w_n`` (|N(0, 1)| times a keep mask
   of probability 0.5, unit L1 norm): ``d_nt = w_n . a2(q_nt)``. ``mu_n ~ U(-0.75, 0.75)^2``,
   ``S = 0.03 I`` and ``z(p)`` the pupil centre z-scored with the training trials' mean and std.
3. Nonlinearity and rate: ``u = (d - m_n) / s_n`` (mean and std of d over the training trials),
   ``lambda_nt = g_nt * r_n * softplus(k_n (u - theta_n)) / N_n`` where ``N_n`` is the training
   mean of the softplus term (so r_n is the neuron's mean rate at gain 1), ``r_n ~ LogNormal(log 0.5, 0.5)``,
   ``k_n ~ U(1, 2.5)``, ``theta_n ~ U(0, 1.5)``.
4. Behaviour gain: ``g_nt = exp(alpha_n . z(b_t))``, ``alpha_n ~ N(0, 0.15^2)`` per variable, z(b) the
   behaviour z-scored with the training trials' mean and std.
5. The recorded response is ``Poisson(lambda_nt)`` (spike counts).

Behaviour per trial (in presentation order, AR(1) with coefficient 0.9 so consecutive trials are
alike): pupil dilation ``exp(0.3 x1)``, its change ``x2 * 0.1``, running speed
``max(0, 8 x3 - 2)``; pupil centre ``(320 + 6 x4, 240 + 4 x5)`` (camera pixels).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

LAYER1 = (16, 9)  # channels, kernel side
LAYER2 = (16, 3)
SHIFT = 0.03
GAIN_SD = 0.15
AR = 0.9
RATE = 0.5  # median over neurons of the mean response (spikes per trial)


@dataclass
class StaticTruth:
    layer1: np.ndarray  # (k, k, K1) Gabor filters
    layer2: np.ndarray  # (k, k, K1, K2)
    bias2: np.ndarray  # (K2,)
    mu: np.ndarray  # (n, 2) x, y in [-1, 1]
    features: np.ndarray  # (n, K2)
    shift: np.ndarray  # (2, 2): pupil z-score -> position shift
    alpha: np.ndarray  # (n, 3) behaviour gain weights
    drive_mean: np.ndarray  # (n,)
    drive_std: np.ndarray
    rate: np.ndarray
    slope: np.ndarray
    threshold: np.ndarray
    norm: np.ndarray
    behavior_mean: np.ndarray  # (3,)
    behavior_std: np.ndarray
    pupil_mean: np.ndarray  # (2,)
    pupil_std: np.ndarray

    def arrays(self) -> dict[str, np.ndarray]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _gabors(rng: np.random.Generator, count: int, side: int) -> np.ndarray:
    half = (side - 1) / 2
    yy, xx = np.meshgrid(np.arange(side) - half, np.arange(side) - half, indexing="ij")
    out = np.empty((side, side, count))
    for k in range(count):
        theta, phase = rng.uniform(0, np.pi), rng.uniform(0, 2 * np.pi)
        sigma = rng.uniform(1.2, 2.2)
        wavelength = sigma * rng.uniform(2.0, 3.5)
        u = xx * np.cos(theta) + yy * np.sin(theta)
        v = -xx * np.sin(theta) + yy * np.cos(theta)
        g = np.exp(-(u ** 2 + v ** 2) / (2 * sigma ** 2)) * np.cos(2 * np.pi * u / wavelength + phase)
        g -= g.mean()
        out[:, :, k] = g / np.linalg.norm(g)
    return out


def conv_same(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """(n, H, W, Cin) * (k, k, Cin, Cout) -> (n, H, W, Cout), zero 'same' padding (correlation):
    one channel product per kernel offset."""
    k = kernel.shape[0]
    pad = k // 2
    n, height, width, _ = x.shape
    padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    out = np.zeros((n, height, width, kernel.shape[3]))
    for dy in range(k):
        for dx in range(k):
            out += padded[:, dy:dy + height, dx:dx + width, :] @ kernel[dy, dx]
    return out


def layer1_maps(layer1: np.ndarray, images: np.ndarray) -> np.ndarray:
    """(n, H, W) grey levels -> (n, H, W, K1) rectified Gabor responses (one product of the image
    patches with all filters: faster than per-offset products for a single input channel)."""
    k = layer1.shape[0]
    n, height, width = images.shape
    padded = np.pad(images / 127.5 - 1.0, ((0, 0), (k // 2, k // 2), (k // 2, k // 2)))
    patches = np.lib.stride_tricks.sliding_window_view(padded, (k, k), axis=(1, 2)).reshape(-1, k * k)
    return np.maximum(patches @ layer1.reshape(k * k, -1), 0.0).reshape(n, height, width, -1)


def feature_maps(truth: StaticTruth, images: np.ndarray) -> np.ndarray:
    """(n, H, W) grey levels -> (n, H, W, K2) rectified second-layer maps."""
    return np.maximum(conv_same(layer1_maps(truth.layer1, images), truth.layer2) - truth.bias2, 0.0)


def bilinear(maps: np.ndarray, points: np.ndarray, index: np.ndarray | None = None) -> np.ndarray:
    """Sample (m, H, W, C) maps at points (n, neurons, 2) = (x, y) in [-1, 1] -> (n, neurons, C);
    row i of ``points`` reads map ``index[i]`` (default i)."""
    _, height, width, _ = maps.shape
    px = (points[..., 0] + 1) / 2 * (width - 1)
    py = (points[..., 1] + 1) / 2 * (height - 1)
    x0 = np.clip(np.floor(px).astype(int), 0, width - 2)
    y0 = np.clip(np.floor(py).astype(int), 0, height - 2)
    fx, fy = (px - x0)[..., None], (py - y0)[..., None]
    rows = (np.arange(len(points)) if index is None else np.asarray(index))[:, None]
    return ((1 - fy) * ((1 - fx) * maps[rows, y0, x0] + fx * maps[rows, y0, x0 + 1])
            + fy * ((1 - fx) * maps[rows, y0 + 1, x0] + fx * maps[rows, y0 + 1, x0 + 1]))


def drives(truth: StaticTruth, maps: np.ndarray, pupil: np.ndarray, index: np.ndarray | None = None) -> np.ndarray:
    """Readout drive d (trials, neurons) from each trial's feature map (``maps[index[t]]``) and
    pupil centre."""
    shift = ((pupil - truth.pupil_mean) / truth.pupil_std) @ truth.shift.T  # (trials, 2)
    points = np.clip(truth.mu[None] + shift[:, None], -1.0, 1.0)
    return np.einsum("tnc,nc->tn", bilinear(maps, points, index), truth.features)


def softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


def rates(truth: StaticTruth, drive: np.ndarray, behavior: np.ndarray) -> np.ndarray:
    """Noise-free expected responses (trials, neurons)."""
    u = (drive - truth.drive_mean) / truth.drive_std
    gain = np.exp(((behavior - truth.behavior_mean) / truth.behavior_std) @ truth.alpha.T)
    return gain * truth.rate * softplus(truth.slope * (u - truth.threshold)) / truth.norm


def draw_behaviour(rng: np.random.Generator, trials: int) -> tuple[np.ndarray, np.ndarray]:
    """Behaviour (trials, 3) and pupil centre (trials, 2) in presentation order."""
    noise = rng.standard_normal((trials, 5))
    latent = np.empty_like(noise)
    latent[0] = noise[0]
    for t in range(1, trials):
        latent[t] = AR * latent[t - 1] + np.sqrt(1 - AR ** 2) * noise[t]
    behavior = np.stack([np.exp(0.3 * latent[:, 0]), 0.1 * latent[:, 1],
                         np.maximum(0.0, 8 * latent[:, 2] - 2)], axis=1)
    pupil = np.stack([320 + 6 * latent[:, 3], 240 + 4 * latent[:, 4]], axis=1)
    return behavior, pupil


def draw_network(rng: np.random.Generator, neurons: int) -> dict[str, np.ndarray]:
    """The random parts that do not depend on data: filters, positions, weights, shapes."""
    k1, s1 = LAYER1
    k2, s2 = LAYER2
    layer2 = rng.standard_normal((s2, s2, k1, k2))
    layer2 /= np.sqrt((layer2 ** 2).sum(axis=(0, 1, 2)))
    features = np.abs(rng.standard_normal((neurons, k2))) * (rng.random((neurons, k2)) < 0.5)
    features[np.arange(neurons), rng.integers(0, k2, neurons)] += 0.5  # never all zero
    features /= features.sum(axis=1, keepdims=True)
    return {"layer1": _gabors(rng, k1, s1), "layer2": layer2, "mu": rng.uniform(-0.75, 0.75, (neurons, 2)),
            "features": features, "alpha": rng.normal(0.0, GAIN_SD, (neurons, 3)),
            "rate": np.exp(rng.normal(np.log(RATE), 0.5, neurons)), "slope": rng.uniform(1.0, 2.5, neurons),
            "threshold": rng.uniform(0.0, 1.5, neurons)}
