"""Synthetic images with natural-image statistics: the dead-leaves model.

Opaque discs of uniform grey levels fall on the image, front to back, with radii drawn from a
power law p(r) ~ r^-3 (scale invariance). The result has sharp occluding edges, flat regions and
a radially averaged power spectrum close to 1/f^2 (slope about -2.2 at the defaults), like
natural scenes (Lee, Mumford & Huang 2001). An optional blur stands in for optics (off by
default), then values are rounded to 8-bit grey levels like the Antolik stimuli.
"""

from __future__ import annotations

import numpy as np


def _radii(rng: np.random.Generator, n: int, rmin: float, rmax: float) -> np.ndarray:
    """Inverse-CDF draw from p(r) ~ r^-3 on [rmin, rmax]."""
    u = rng.random(n)
    return (rmin ** -2 - u * (rmin ** -2 - rmax ** -2)) ** -0.5


def _blur(images: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur with edge replication (numpy only)."""
    half = max(1, int(np.ceil(3 * sigma)))
    taps = np.exp(-0.5 * (np.arange(-half, half + 1) / sigma) ** 2)
    taps /= taps.sum()
    out = images
    for axis in (1, 2):
        padded = np.pad(out, [(0, 0)] + [(half, half) if a == axis else (0, 0) for a in (1, 2)], mode="edge")
        size = out.shape[axis]
        out = sum(w * np.take(padded, np.arange(i, i + size), axis=axis) for i, w in enumerate(taps))
    return out


def dead_leaves(rng: np.random.Generator, n: int, size: int | tuple[int, int] = 31, rmin: float = 2.0,
                rmax: float | None = None, max_discs: int = 300, blur: float = 0.0) -> np.ndarray:
    """``n`` dead-leaves images of ``size`` x ``size`` pixels (or ``size = (height, width)``),
    integer grey levels 0..255 (float64)."""
    height, width = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    rmax = float(rmax if rmax is not None else max(height, width))
    yy, xx = np.meshgrid(np.arange(height, dtype=np.float32), np.arange(width, dtype=np.float32), indexing="ij")
    images = np.full((n, height, width), 127.5)
    uncovered = np.ones((n, height, width), dtype=bool)
    active = np.arange(n)  # images that still have uncovered pixels
    margin = rmax / 4
    for _ in range(max_discs):
        # Draw for every image each round so the stream does not depend on coverage order.
        cy = rng.uniform(-margin, height - 1 + margin, n).astype(np.float32)[active]
        cx = rng.uniform(-margin, width - 1 + margin, n).astype(np.float32)[active]
        radius = _radii(rng, n, rmin, rmax).astype(np.float32)[active]
        grey = rng.uniform(0.0, 255.0, n)[active]
        inside = (yy - cy[:, None, None]) ** 2 + (xx - cx[:, None, None]) ** 2 <= radius[:, None, None] ** 2
        todo = uncovered[active]
        new = inside & todo
        block = images[active]
        np.copyto(block, grey[:, None, None], where=new)
        images[active] = block
        todo &= ~inside
        uncovered[active] = todo
        active = active[todo.any(axis=(1, 2))]
        if active.size == 0:
            break
    # Pixels no disc reached (rare) keep the mean grey level.
    if blur > 0:
        images = _blur(images, blur)
    return np.clip(np.round(images), 0, 255)


def radial_power_spectrum(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean power per integer radial frequency (cycles/image), DC excluded: used to check ~1/f^2."""
    size = images.shape[-1]
    centred = images - images.mean(axis=(-2, -1), keepdims=True)
    power = (np.abs(np.fft.fft2(centred)) ** 2).mean(axis=0)
    f = np.fft.fftfreq(size) * size
    radius = np.round(np.hypot(*np.meshgrid(f, f, indexing="ij"))).astype(int)
    freqs = np.arange(1, size // 2)
    return freqs, np.array([power[radius == k].mean() for k in freqs])
