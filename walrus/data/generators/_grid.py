"""Grid and seeding helpers shared by the generators."""

from __future__ import annotations

import itertools

import numpy as np


def cell_centres(lo: float, hi: float, n: int) -> np.ndarray:
    """Cell-centre coordinates of ``n`` cells on [lo, hi] (finite-volume and Fourier grids alike)."""
    h = (hi - lo) / n
    return lo + h * (np.arange(n) + 0.5)


def trajectory_rngs(seed: int, n_traj: int) -> list[np.random.Generator]:
    """One independent generator per trajectory, so trajectory k is the same for any n_traj."""
    return [np.random.default_rng([seed, k]) for k in range(n_traj)]


def smooth_random_field(rng: np.random.Generator, shape: tuple[int, ...], k_max: int = 4) -> np.ndarray:
    """A periodic random field (2-D or 3-D) with only Fourier modes of |k| <= ``k_max``, scaled to unit max.

    Modes are drawn in lexicographic order of (kx, ky[, kz]), so a 2-D field is the same for a seed
    whatever the dimension support.
    """
    spec = np.zeros(shape, dtype=complex)
    for k in itertools.product(range(-k_max, k_max + 1), repeat=len(shape)):
        if any(k) and sum(c * c for c in k) <= k_max * k_max:
            spec[tuple(c % n for c, n in zip(k, shape))] = rng.normal() + 1j * rng.normal()
    field = np.fft.ifftn(spec).real
    return field / np.abs(field).max()
