"""Shallow water in a closed basin: PyClaw's 2-D Roe solver (``shallow_roe_with_efix_2D``).

Random mounds and dips of water on a 1 m deep, 10 m wide basin with reflecting walls, released
from rest; they spread as gravity waves and reflect. Walls make total water volume exact.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from walrus.data.generators._grid import cell_centres, trajectory_rngs
from walrus.data.generators._pyclaw import evolve_frames, import_pyclaw
from walrus.hooks import GeneratedData

GRAVITY = 9.81  # m s-2
WIDTH = 10.0  # m
DEPTH = 1.0  # m
DT_OUT = 4.0 / 30  # s; 30 frames (the default): a wave at sqrt(g h) ~ 3.1 m/s crosses the basin once


def initial_height(rng: np.random.Generator, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Still water plus 2-4 Gaussian mounds or dips of 0.1-0.5 m."""
    xx, yy = np.meshgrid(x, y, indexing="ij")
    h = np.full_like(xx, DEPTH)
    for _ in range(rng.integers(2, 5)):
        cx, cy = rng.uniform(0.2, 0.8, size=2) * WIDTH
        w = rng.uniform(0.05, 0.12) * WIDTH
        h += rng.choice([-1.0, 1.0]) * rng.uniform(0.1, 0.5) * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / w**2)
    return np.maximum(h, 0.2 * DEPTH)


def generate(*, n_traj: int, res: int, steps: int, seed: int,
             progress: Callable[[int], None] = lambda k: None) -> GeneratedData:
    pyclaw, riemann = import_pyclaw()
    x, y = cell_centres(0.0, WIDTH, res), cell_centres(0.0, WIDTH, res)
    times = DT_OUT * np.arange(steps)
    out = {"height": [], "velocity": []}

    def read(s) -> dict:
        h = s.q[0].copy()
        return {"height": h, "velocity": np.stack([s.q[1] / h, s.q[2] / h], axis=-1)}

    for rng in trajectory_rngs(seed, n_traj):
        solver = pyclaw.ClawSolver2D(riemann.shallow_roe_with_efix_2D)
        solver.limiters = pyclaw.limiters.tvd.MC
        solver.dimensional_split = True
        solver.all_bcs = pyclaw.BC.wall
        domain = pyclaw.Domain([pyclaw.Dimension(0.0, WIDTH, res, name="x"),
                                pyclaw.Dimension(0.0, WIDTH, res, name="y")])
        state = pyclaw.State(domain, 3)
        state.problem_data["grav"] = GRAVITY
        state.q[0] = initial_height(rng, x, y)
        state.q[1] = state.q[2] = 0.0
        frames = evolve_frames(solver, pyclaw.Solution(state, domain), times, read, progress)
        for k in out:
            out[k].append(frames[k])
    return GeneratedData(dimensions={"x": x, "y": y}, time=times,
                         fields={k: np.stack(v) for k, v in out.items()}, scalars={"gravity": GRAVITY})
