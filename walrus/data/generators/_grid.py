"""Grid and seeding helpers shared by the generators."""

from __future__ import annotations

import numpy as np


def cell_centres(lo: float, hi: float, n: int) -> np.ndarray:
    """Cell-centre coordinates of ``n`` cells on [lo, hi] (finite-volume and Fourier grids alike)."""
    h = (hi - lo) / n
    return lo + h * (np.arange(n) + 0.5)


def trajectory_rngs(seed: int, n_traj: int) -> list[np.random.Generator]:
    """One independent generator per trajectory, so trajectory k is the same for any n_traj."""
    return [np.random.default_rng([seed, k]) for k in range(n_traj)]


def smooth_random_field(rng: np.random.Generator, shape: tuple[int, int], k_max: int = 4) -> np.ndarray:
    """A periodic random field with only the lowest ``k_max`` Fourier modes, scaled to unit max."""
    nx, ny = shape
    spec = np.zeros((nx, ny), dtype=complex)
    for kx in range(-k_max, k_max + 1):
        for ky in range(-k_max, k_max + 1):
            if (kx, ky) != (0, 0) and kx * kx + ky * ky <= k_max * k_max:
                spec[kx % nx, ky % ny] = rng.normal() + 1j * rng.normal()
    field = np.fft.ifft2(spec).real
    return field / np.abs(field).max()
