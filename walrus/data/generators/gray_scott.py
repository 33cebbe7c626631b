"""Gray-Scott reaction-diffusion: py-pde, finite differences, explicit Euler, numpy backend.

Two species on a periodic square (as in The Well's gray_scott_reaction_diffusion): A is fed at
rate F and converted to B by A + 2B -> 3B; B decays at rate F + k. The right-hand side is a
``PDEBase`` with py-pde's scipy-backend Laplacian, stepped by py-pde's Euler solver on the numpy
backend: ``pde.PDE`` from strings would numba-compile it, which costs ~30 s, more than the run.

Scales are set for the 32-64 cell grids this generator runs at, so that every frame a model is
scored on still has a pattern that moves. The Well's diffusivities (2e-5, 1e-5 on [-1, 1]^2) make
spots about one cell wide at 32^2: there the seeds died out or froze within 5 frames of 50 time
units, and most windows were a uniform or a frozen field (persistence exact, VRMSE dividing by a
vanishing standard deviation). Here the diffusivities are 10x larger (spots span ~6 cells at 32^2),
frames are 20 time units apart, and the (F, k) pairs are regimes whose patterns keep moving, splitting
or turning over 40 frames at 32^2 and 64^2 (measured: the one-step change stays above 4% of the
spatial standard deviation after frame 5 for every pair; `tests/plugins/test_generator_dynamics.py`).
At 16^2 the box holds too few wavelengths and patterns freeze.

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

DIFFUSIVITY_A, DIFFUSIVITY_B = 2e-4, 1e-4  # on [-1, 1]^2; 10x The Well's, resolved at 32^2
PATTERNS = ((0.014, 0.054), (0.018, 0.051), (0.022, 0.055), (0.030, 0.057), (0.034, 0.061), (0.039, 0.058))
DT_OUT = 20.0  # 40 frames span 780 time units: seeds grow, split and wander without settling
STABLE_DIFFUSION_NUMBER = 0.2  # explicit Euler on the 5-point Laplacian is stable below 0.25


def timestep(res: int) -> float:
    """The largest step dividing DT_OUT with D_A dt / dx^2 <= 0.2, at most 1 (reaction rates ~ 1):
    1.0 at 32^2, 0.95 at 64^2, 0.24 at 128^2."""
    dx = 2.0 / res
    limit = min(1.0, STABLE_DIFFUSION_NUMBER * dx * dx / DIFFUSIVITY_A)
    return DT_OUT / np.ceil(DT_OUT / limit)

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
        eq.solve(state, t_range=float(times[-1]), dt=timestep(res), solver="euler", backend="numpy", tracker=trackers)
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
