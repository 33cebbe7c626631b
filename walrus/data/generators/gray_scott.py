"""Gray-Scott reaction-diffusion: py-pde, finite differences, explicit Euler, numpy backend.

Two species on a periodic square (as in The Well's gray_scott_reaction_diffusion): A is fed at
rate F and converted to B by A + 2B -> 3B; B decays at rate F + k. The (F, k) pairs are the
Well's pattern regimes (gliders, bubbles, maze, worms, spirals, spots). The right-hand side is a
``PDEBase`` with py-pde's scipy-backend Laplacian, stepped by py-pde's Euler solver on the numpy
backend: ``pde.PDE`` from strings would numba-compile it, which costs ~30 s, more than the run.

Units: none. The model is nondimensional: A and B are dimensionless concentrations, lengths are
in units of half the domain width (the domain is [-1, 1]^2) and times in the units the rates F, k
and the diffusivities are given in; no physical length or time scale is implied. Everything is
written with units "1" (`UNITS`, `UNIT_SCALING`).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from walrus.data.generators._grid import cell_centres, trajectory_rngs
from walrus.hooks import GeneratedData

DIFFUSIVITY_A, DIFFUSIVITY_B = 2e-5, 1e-5  # on [-1, 1]^2, as in The Well
PATTERNS = ((0.014, 0.054), (0.098, 0.057), (0.029, 0.057), (0.058, 0.065), (0.018, 0.051), (0.030, 0.062))
DT_OUT = 50.0  # 30 frames (the default) span 1450 time units: patterns grow from the seeds
TIMESTEP = 1.0  # explicit Euler; D dt / dx^2 ~ 0.02 at 64^2, reaction rates ~ 1

UNIT_SCALING = ("nondimensional: concentrations A, B are dimensionless; lengths in units of half the domain "
                "width (domain [-1, 1]^2), time in the units of the rates F and k; no physical scale implied")
UNITS = {"x": "1", "y": "1", "time": "1", "A": "1", "B": "1", "F": "1", "k": "1"}


def initial_state(rng: np.random.Generator, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A = 1, B = 0, with 3-8 random square seeds where A = 0.5 and B = 0.25 (plus 1% noise)."""
    n = len(x)
    a, b = np.ones((n, n)), np.zeros((n, n))
    for _ in range(rng.integers(3, 9)):
        cx, cy = rng.integers(0, n, size=2)
        half = max(1, n // 16)
        ix, iy = np.arange(cx - half, cx + half) % n, np.arange(cy - half, cy + half) % n
        a[np.ix_(ix, iy)], b[np.ix_(ix, iy)] = 0.5, 0.25
    return a + 0.01 * rng.standard_normal((n, n)) * (b > 0), b * (1 + 0.01 * rng.standard_normal((n, n)))


def _gray_scott_pde(pde, feed: float, kill: float):
    class GrayScott(pde.PDEBase):
        """dA/dt = Da lap A - A B^2 + F (1 - A);  dB/dt = Db lap B + A B^2 - (F + k) B."""

        def evolution_rate(self, state, t=0):
            a, b = state
            reaction = a * b * b
            return pde.FieldCollection([
                DIFFUSIVITY_A * a.laplace(bc="periodic", backend="scipy") - reaction + feed * (1 - a),
                DIFFUSIVITY_B * b.laplace(bc="periodic", backend="scipy") + reaction - (feed + kill) * b])

    return GrayScott()


def generate(*, n_traj: int, res: int, steps: int, seed: int,
             progress: Callable[[int], None] = lambda k: None) -> GeneratedData:
    import pde

    x = cell_centres(-1.0, 1.0, res)
    grid = pde.CartesianGrid([(-1.0, 1.0), (-1.0, 1.0)], [res, res], periodic=True)
    times = DT_OUT * np.arange(steps)
    out = {"A": [], "B": []}
    params = {"F": [], "k": []}
    for rng in trajectory_rngs(seed, n_traj):
        feed, kill = PATTERNS[rng.integers(len(PATTERNS))]
        eq = _gray_scott_pde(pde, feed, kill)
        a0, b0 = initial_state(rng, x)
        state = pde.FieldCollection([pde.ScalarField(grid, a0, label="A"), pde.ScalarField(grid, b0, label="B")])
        storage = pde.MemoryStorage()
        trackers = [storage.tracker(DT_OUT), pde.trackers.CallbackTracker(lambda s, t: progress(1), DT_OUT)]
        eq.solve(state, t_range=float(times[-1]), dt=TIMESTEP, solver="euler", backend="numpy", tracker=trackers)
        frames = np.stack([f.data for f in storage])  # (T, 2, X, Y)
        if frames.shape[0] != steps or not np.isfinite(frames).all():
            raise FloatingPointError(f"py-pde returned {frames.shape[0]} frames (expected {steps}) "
                                     f"or non-finite values")
        out["A"].append(frames[:, 0])
        out["B"].append(frames[:, 1])
        params["F"].append(feed)
        params["k"].append(kill)
    return GeneratedData(dimensions={"x": x, "y": x.copy()}, time=times,
                         fields={key: np.stack(v) for key, v in out.items()},
                         trajectory_parameters={key: np.asarray(v) for key, v in params.items()},
                         units=UNITS, unit_scaling=UNIT_SCALING)
