"""Compressible gas dynamics: PyClaw's 2-D Euler equations (HLLE Riemann solver), blast waves.

Several over-pressured hot bubbles explode into a clumpy periodic medium, as supernovae do in
an interstellar-medium box. HLLE keeps density and pressure positive through strong blasts.

Units: the solver runs in code units (a unit box, density ~1, ambient pressure 0.1). The Euler
equations are invariant under a change of the length, density and pressure scales, so the code
units are a physical system once those are named: one code unit of length is L0 = 1 m (the box
is 1 m wide), of density rho0 = 1 kg m-3 and of pressure p0 = 1 Pa. Hence speeds in
sqrt(p0/rho0) = 1 m s-1, time in 1 s, energy density in p0 = 1 J m-3 and momentum density in
rho0 sqrt(p0/rho0) = 1 kg m-2 s-1; gamma is a pure number (`UNITS`, `UNIT_SCALING`).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from walrus.data.generators._grid import cell_centres, smooth_random_field, trajectory_rngs
from walrus.data.generators._pyclaw import evolve_frames, import_pyclaw
from walrus.hooks import GeneratedData

GAMMA = 5.0 / 3.0  # monatomic gas
DT_OUT = 0.2 / 30  # 30 frames (the default): the blasts sweep about a third of the box

UNIT_SCALING = ("code units scaled by L0 = 1 m (box width), rho0 = 1 kg m-3 and p0 = 1 Pa: speeds in "
                "sqrt(p0/rho0) = 1 m s-1, time in L0 sqrt(rho0/p0) = 1 s, energy density in p0 = 1 J m-3, "
                "momentum density in sqrt(rho0 p0) = 1 kg m-2 s-1; gamma is dimensionless")
UNITS = {"x": "m", "y": "m", "time": "s", "density": "kg m-3", "energy": "J m-3", "pressure": "Pa",
         "momentum": "kg m-2 s-1", "gamma": "1"}


def initial_state(rng: np.random.Generator, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Density (clumpy, 0.5-1.5) and pressure (0.1 ambient, 1-10 inside 1-3 periodic bubbles)."""
    xx, yy = np.meshgrid(x, y, indexing="ij")
    rho = 1.0 + 0.5 * smooth_random_field(rng, xx.shape)
    p = np.full_like(xx, 0.1)
    for _ in range(rng.integers(1, 4)):
        cx, cy, r = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.05, 0.12)
        dx = (xx - cx + 0.5) % 1.0 - 0.5  # periodic distance
        dy = (yy - cy + 0.5) % 1.0 - 0.5
        p[dx**2 + dy**2 < r * r] = rng.uniform(1.0, 10.0)
    return rho, p


def generate(*, n_traj: int, res: int, steps: int, seed: int,
             progress: Callable[[int], None] = lambda k: None) -> GeneratedData:
    pyclaw, riemann = import_pyclaw()
    x, y = cell_centres(0.0, 1.0, res), cell_centres(0.0, 1.0, res)
    times = DT_OUT * np.arange(steps)
    out = {"density": [], "energy": [], "pressure": [], "momentum": []}

    def read(s) -> dict:
        rho, mx, my, e = s.q[0], s.q[1], s.q[2], s.q[3]
        p = (GAMMA - 1.0) * (e - 0.5 * (mx**2 + my**2) / rho)
        return {"density": rho.copy(), "energy": e.copy(), "pressure": p,
                "momentum": np.stack([mx, my], axis=-1)}

    for rng in trajectory_rngs(seed, n_traj):
        solver = pyclaw.ClawSolver2D(riemann.euler_hlle_2D)
        solver.transverse_waves = 0
        solver.cfl_desired, solver.cfl_max = 0.4, 0.5
        solver.all_bcs = pyclaw.BC.periodic
        domain = pyclaw.Domain([pyclaw.Dimension(0.0, 1.0, res, name="x"),
                                pyclaw.Dimension(0.0, 1.0, res, name="y")])
        state = pyclaw.State(domain, 4)
        state.problem_data["gamma"] = GAMMA
        state.problem_data["gamma1"] = GAMMA - 1.0
        rho, p = initial_state(rng, x, y)
        state.q[0], state.q[1], state.q[2] = rho, 0.0, 0.0
        state.q[3] = p / (GAMMA - 1.0)
        frames = evolve_frames(solver, pyclaw.Solution(state, domain), times, read, progress)
        for k in out:
            out[k].append(frames[k])
    return GeneratedData(dimensions={"x": x, "y": y}, time=times,
                         fields={k: np.stack(v) for k, v in out.items()}, scalars={"gamma": GAMMA},
                         units=UNITS, unit_scaling=UNIT_SCALING)
