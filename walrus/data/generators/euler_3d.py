"""Compressible gas dynamics in 3-D: PyClaw's Euler equations (``euler_3D``), blast waves in a periodic box.

The 3-D sibling of ``euler.py``: one to three over-pressured hot bubbles (smooth, 3-10 times the
ambient pressure) explode into a clumpy, gently stirred periodic gas; the shocks steepen, collide,
wrap around the box and compress the clumps. Each trajectory draws its own gas (gamma 5/3 or 7/5),
so gamma is a per-trajectory parameter and each trajectory is written to its own file.

Numerics: unsplit wave propagation without transverse corrections and with the MC limiter, at a
Courant number of 0.3 per direction (an unsplit step without corner transport is stable while the
three Courant numbers sum to at most 1). PyClaw's dimensionally split 3-D step fills ghost cells
once for all three sweeps, which on a periodic box lost ~1e-4 of the mass in 40 frames; the
unsplit step conserves mass, momentum and energy to round-off. Corner transport
(``transverse_waves = 22``) at Courant 0.8 let the 3-D acoustics runs blow up (``acoustics_3d.py``)
and at a stable Courant number costs more than this set-up.

Units: code units named as SI exactly as in ``euler.py`` (L0 = 1 m, rho0 = 1 kg m-3, p0 = 1 Pa;
so speeds in m s-1, time in s, energy density in J m-3, momentum density in kg m-2 s-1; gamma is
a pure number: `UNITS`, `UNIT_SCALING`).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from walrus.data.generators._grid import cell_centres, smooth_random_field, trajectory_rngs
from walrus.data.generators._pyclaw import evolve_frames, import_pyclaw
from walrus.hooks import GeneratedData

GAMMAS = (5.0 / 3.0, 7.0 / 5.0)  # monatomic and diatomic gas
# Smooth over-pressures: top-hat bubbles of 10-100 x the ambient pressure evacuated their centres to a
# density of ~0.01, where the Roe solver meets rho <= 0 and its Fortran `stop` ends the whole process
AMBIENT_PRESSURE, BUBBLE_PRESSURE = 1.0, (3.0, 10.0)
DT_OUT = 0.3 / 40  # 40 frames (the default): the shells cross about half the box and collide
# PyClaw's 3-D codes: 0 none, 11 transverse increments, 22 increments and corrections (its default); the
# 2-D codes 1 and 2 silently mean none in 3-D (bit-identical to 0)
TRANSVERSE_WAVES = 0
CFL_DESIRED, CFL_MAX = 0.3, 1.0 / 3.0  # per direction: their sum stays <= 1

UNIT_SCALING = ("code units scaled by L0 = 1 m (box width), rho0 = 1 kg m-3 and p0 = 1 Pa: speeds in "
                "sqrt(p0/rho0) = 1 m s-1, time in L0 sqrt(rho0/p0) = 1 s, energy density in p0 = 1 J m-3, "
                "momentum density in sqrt(rho0 p0) = 1 kg m-2 s-1; gamma is dimensionless")
UNITS = {"x": "m", "y": "m", "z": "m", "time": "s", "density": "kg m-3", "energy": "J m-3", "pressure": "Pa",
         "momentum": "kg m-2 s-1", "gamma": "1"}


def initial_state(rng: np.random.Generator, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Density (clumpy, 0.5-1.5), velocity (a smooth random stir up to 0.3) and pressure (1 ambient plus
    1-3 periodic Gaussian bumps of 3-10 and e-folding radius 0.08-0.15), on the grid ``x`` x ``x`` x ``x``."""
    n = len(x)
    grid = np.meshgrid(x, x, x, indexing="ij")
    rho = 1.0 + 0.5 * smooth_random_field(rng, (n, n, n), k_max=3)
    stir = rng.uniform(0.0, 0.3)
    velocity = np.stack([stir * smooth_random_field(rng, (n, n, n), k_max=2) for _ in range(3)], axis=-1)
    p = np.full((n, n, n), AMBIENT_PRESSURE)
    for _ in range(rng.integers(1, 4)):
        centre, r = rng.uniform(0, 1, size=3), rng.uniform(0.08, 0.15)
        d2 = sum(((g - c + 0.5) % 1.0 - 0.5) ** 2 for g, c in zip(grid, centre))  # periodic distance
        p += rng.uniform(*BUBBLE_PRESSURE) * np.exp(-d2 / (r * r))
    return rho, velocity, p


def generate(*, n_traj: int, res: int, steps: int, seed: int,
             progress: Callable[[int], None] = lambda k: None) -> GeneratedData:
    pyclaw, riemann = import_pyclaw()
    x = cell_centres(0.0, 1.0, res)
    times = DT_OUT * np.arange(steps)
    out = {"density": [], "energy": [], "pressure": [], "momentum": []}
    gammas = []

    for rng in trajectory_rngs(seed, n_traj):
        gamma = GAMMAS[rng.integers(len(GAMMAS))]

        def read(s, gamma=gamma) -> dict:
            rho, m, e = s.q[0], s.q[1:4], s.q[4]
            p = (gamma - 1.0) * (e - 0.5 * (m**2).sum(0) / rho)
            return {"density": rho.copy(), "energy": e.copy(), "pressure": p, "momentum": np.moveaxis(m, 0, -1).copy()}

        solver = pyclaw.ClawSolver3D(riemann.euler_3D)
        solver.dimensional_split = False
        solver.transverse_waves = TRANSVERSE_WAVES
        solver.limiters = pyclaw.limiters.tvd.MC
        solver.cfl_desired, solver.cfl_max = CFL_DESIRED, CFL_MAX
        solver.all_bcs = pyclaw.BC.periodic
        domain = pyclaw.Domain([pyclaw.Dimension(0.0, 1.0, res, name=a) for a in ("x", "y", "z")])
        state = pyclaw.State(domain, 5)
        state.problem_data["gamma"] = gamma
        rho, velocity, p = initial_state(rng, x)
        momentum = rho[..., None] * velocity
        state.q[0] = rho
        state.q[1:4] = np.moveaxis(momentum, -1, 0)
        state.q[4] = p / (gamma - 1.0) + 0.5 * rho * (velocity**2).sum(-1)
        frames = evolve_frames(solver, pyclaw.Solution(state, domain), times, read, progress)
        if not all(np.isfinite(v).all() for v in frames.values()) or (frames["pressure"] <= 0).any():
            raise FloatingPointError("the 3-D Euler run produced non-finite values or a non-positive pressure; "
                                     "use more resolution or fewer steps")
        for k in out:
            out[k].append(frames[k])
        gammas.append(gamma)
    return GeneratedData(dimensions={"x": x, "y": x.copy(), "z": x.copy()}, time=times,
                         fields={k: np.stack(v) for k, v in out.items()},
                         trajectory_parameters={"gamma": np.asarray(gammas)},
                         units=UNITS, unit_scaling=UNIT_SCALING)
