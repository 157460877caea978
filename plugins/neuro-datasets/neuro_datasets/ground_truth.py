"""The ground-truth V1 population behind the synthetic dataset.

Every cell sees the image as contrast ``c = pixel / 127.5 - 1`` (-1 .. 1) and has a receptive field
near the image centre. Three kinds of cells:

- ``simple``: a Gabor filter (zero mean, unit L2 norm); drive ``d = <gabor, c>``.
- ``dog``: a centre-surround difference of Gaussians, ON or OFF (sign), unit L2 norm;
  drive ``d = <dog, c>``. Also simple-like (linear filter + rectification).
- ``complex``: the energy model of a quadrature Gabor pair (phases phi, phi + 90 deg);
  drive ``d = sqrt(<g0, c>^2 + <g90, c>^2)``.

Expected rate (noise free): ``rate = baseline + gain * max(d - theta, 0) ** power`` with
``power ~ U(1, 1.5)``. ``theta`` is the drive's quantile ``q ~ U(0.2, 0.6)`` over the calibration
(training) images, so the driven part is silent on a fraction q of them; ``baseline`` is a fraction
``b ~ U(0.3, 0.65)`` of the cell's target mean rate (``mean_rate`` times a log-normal factor) and
``gain`` brings the driven part's mean to the remaining ``(1 - b)`` of it.

Trial noise is compound Poisson ("Poisson-like", variance proportional to the mean, exact zeros
when the rate is low, continuous values like deconvolved calcium signals): a count
``k ~ Poisson(rate / amplitude)`` of events, each of size ~ Exponential(amplitude), so
``E[r] = rate`` and ``Var[r] = 2 * amplitude * rate``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KINDS = ("simple", "dog", "complex")
KIND_PROBABILITIES = (0.4, 0.15, 0.45)
POWER = (1.0, 1.5)
QUANTILE = (0.2, 0.6)
BASELINE = (0.3, 0.65)


@dataclass
class Population:
    """Per-neuron parameters (arrays of length n) and filters (n, size*size[, 2])."""

    kind: np.ndarray  # index into KINDS
    centre: np.ndarray  # (n, 2) y, x in pixels
    filters: np.ndarray  # (n, 2, size*size): second filter is the quadrature pair (complex only)
    theta: np.ndarray
    gain: np.ndarray
    baseline: np.ndarray
    power: np.ndarray
    amplitude: np.ndarray

    def describe(self) -> dict:
        counts = {k: int((self.kind == i).sum()) for i, k in enumerate(KINDS)}
        return {"cells": counts, "power_range": [float(self.power.min()), float(self.power.max())],
                "amplitude_range": [float(self.amplitude.min()), float(self.amplitude.max())]}


def contrast(pixels: np.ndarray) -> np.ndarray:
    """Grey levels 0..255 -> contrast -1..1."""
    return pixels / 127.5 - 1.0


def _unit(f: np.ndarray) -> np.ndarray:
    f = f - f.mean()
    return f / np.linalg.norm(f)


def _gabor(yy, xx, cy, cx, sigma, wavelength, orientation, phase, aspect):
    y, x = yy - cy, xx - cx
    u = x * np.cos(orientation) + y * np.sin(orientation)  # across the bars
    v = -x * np.sin(orientation) + y * np.cos(orientation)  # along the bars
    envelope = np.exp(-(u ** 2 + (v / aspect) ** 2) / (2 * sigma ** 2))
    return envelope * np.cos(2 * np.pi * u / wavelength + phase)


def _dog(yy, xx, cy, cx, sigma_c, sigma_s, balance):
    r2 = (yy - cy) ** 2 + (xx - cx) ** 2
    centre = np.exp(-r2 / (2 * sigma_c ** 2)) / sigma_c ** 2
    surround = np.exp(-r2 / (2 * sigma_s ** 2)) / sigma_s ** 2
    return centre - balance * surround


def draw_population(rng: np.random.Generator, n: int, size: int, mean_rate: float = 0.6,
                    amplitude: float = 1.0) -> Population:
    """Draw cell kinds, receptive fields and nonlinearity shapes (gain/theta set by :func:`calibrate`)."""
    coords = np.arange(size, dtype=np.float64)
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    kind = rng.choice(len(KINDS), size=n, p=KIND_PROBABILITIES)
    centre = (size - 1) / 2 + np.clip(rng.normal(0, 2.5, (n, 2)), -6, 6)
    filters = np.zeros((n, 2, size * size))
    for i in range(n):
        cy, cx = centre[i]
        sigma = rng.uniform(1.5, 3.0)
        wavelength = sigma * rng.uniform(2.0, 3.5)
        orientation, phase, aspect = rng.uniform(0, np.pi), rng.uniform(0, 2 * np.pi), rng.uniform(1.0, 1.6)
        if KINDS[kind[i]] == "dog":
            sign = rng.choice([-1.0, 1.0])
            sigma_c = rng.uniform(1.0, 2.5)
            f = sign * _dog(yy, xx, cy, cx, sigma_c, sigma_c * rng.uniform(1.8, 3.0), rng.uniform(0.7, 1.0))
            filters[i, 0] = _unit(f).ravel()
            continue
        filters[i, 0] = _unit(_gabor(yy, xx, cy, cx, sigma, wavelength, orientation, phase, aspect)).ravel()
        filters[i, 1] = _unit(_gabor(yy, xx, cy, cx, sigma, wavelength, orientation, phase + np.pi / 2,
                                     aspect)).ravel()
    targets = mean_rate * np.exp(rng.normal(0, 0.35, n))
    power = rng.uniform(POWER[0], POWER[1], n)
    quantile = rng.uniform(QUANTILE[0], QUANTILE[1], n)
    amp = amplitude * np.exp(rng.normal(0, 0.4, n))
    baseline = rng.uniform(BASELINE[0], BASELINE[1], n)  # fraction of the mean rate, set in calibrate
    pop = Population(kind, centre, filters, quantile, targets, baseline, power, amp)
    return pop


def drive(pop: Population, pixels: np.ndarray) -> np.ndarray:
    """Filter drive (images, neurons) for flattened grey-level images (images, size*size)."""
    c = contrast(pixels)
    first = c @ pop.filters[:, 0].T
    second = c @ pop.filters[:, 1].T
    energy = np.sqrt(first ** 2 + second ** 2)
    return np.where(pop.kind == KINDS.index("complex"), energy, first)


def calibrate(pop: Population, pixels: np.ndarray) -> None:
    """Turn the drawn quantiles into thresholds and the target mean rates into gains, in place."""
    d = drive(pop, pixels)
    quantile, target, fraction = pop.theta.copy(), pop.gain.copy(), pop.baseline.copy()
    pop.theta = np.array([np.quantile(d[:, i], quantile[i]) for i in range(d.shape[1])])
    shaped = np.maximum(d - pop.theta, 0) ** pop.power
    pop.baseline = fraction * target
    pop.gain = (1 - fraction) * target / np.maximum(shaped.mean(axis=0), 1e-12)


def rates(pop: Population, pixels: np.ndarray) -> np.ndarray:
    """Noise-free expected responses (images, neurons)."""
    return pop.baseline + pop.gain * np.maximum(drive(pop, pixels) - pop.theta, 0) ** pop.power


def trials(rng: np.random.Generator, pop: Population, expected: np.ndarray) -> np.ndarray:
    """One compound-Poisson trial per entry of ``expected`` (same shape)."""
    counts = rng.poisson(expected / pop.amplitude)
    # Sum of k Exponential(a) events is Gamma(k, a); k = 0 gives exactly 0.
    sizes = rng.gamma(np.maximum(counts, 1), np.broadcast_to(pop.amplitude, expected.shape))
    return np.where(counts > 0, sizes, 0.0)
