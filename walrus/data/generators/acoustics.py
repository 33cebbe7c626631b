"""Linear acoustics in random media: PyClaw's variable-coefficient 2-D acoustics (``vc_acoustics_2D``).

Like The Well's acoustic_scattering sets: reflecting walls on x, open (extrapolation) on y,
pulses of pressure crossing a medium with random circular inclusions of other density and
sound speed. The medium is returned as constant fields.

Units: the solver runs in code units (a unit box, background density and sound speed 1). The
linear acoustic equations are invariant under a change of the length, speed and density scales,
so those code units *are* a physical system once the scales are named: one code unit of length
is L0 = 1 m (the box is 1 m wide), of speed c0 = 1 m s-1 (the background sound speed) and of
density rho0 = 1 kg m-3 (the background density). Hence time in L0/c0 = 1 s and pressure in
rho0 c0^2 = 1 Pa: the numbers are the solver's, the labels are SI under that scaling (`UNITS`,
`UNIT_SCALING`, written into the files).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from walrus.data.generators._grid import cell_centres, trajectory_rngs
from walrus.data.generators._pyclaw import evolve_frames, import_pyclaw
from walrus.hooks import GeneratedData

DT_OUT = 1.0 / 30  # 30 frames (the default) span one crossing of the box at the background sound speed

UNIT_SCALING = ("code units scaled by L0 = 1 m (box width), c0 = 1 m s-1 (background sound speed) and "
                "rho0 = 1 kg m-3 (background density): time in L0/c0 = 1 s, pressure in rho0 c0^2 = 1 Pa, "
                "velocity in c0 = 1 m s-1")
UNITS = {"x": "m", "y": "m", "time": "s", "pressure": "Pa", "velocity": "m s-1",
         "density": "kg m-3", "speed_of_sound": "m s-1"}


def random_medium(rng: np.random.Generator, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Background (rho=1, c=1) with 2-5 circular inclusions of random density and sound speed."""
    xx, yy = np.meshgrid(x, y, indexing="ij")
    rho, c = np.ones_like(xx), np.ones_like(xx)
    for _ in range(rng.integers(2, 6)):
        cx, cy, r = rng.uniform(0.15, 0.85), rng.uniform(0.15, 0.85), rng.uniform(0.05, 0.15)
        inside = (xx - cx) ** 2 + (yy - cy) ** 2 < r * r
        rho[inside], c[inside] = rng.uniform(0.5, 4.0), rng.uniform(0.5, 2.0)
    return rho, c


def initial_pressure(rng: np.random.Generator, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """One to three Gaussian pulses of random position, width and sign."""
    xx, yy = np.meshgrid(x, y, indexing="ij")
    p = np.zeros_like(xx)
    for _ in range(rng.integers(1, 4)):
        cx, cy, w = rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8), rng.uniform(0.03, 0.08)
        p += rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 1.0) * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / w**2)
    return p


def acoustic_energy(pressure: np.ndarray, velocity: np.ndarray, density: np.ndarray,
                    speed_of_sound: np.ndarray, cell_area: float) -> np.ndarray:
    """Total acoustic energy p^2/(2 rho c^2) + rho |u|^2 / 2 over the domain, per leading index."""
    bulk = density * speed_of_sound**2
    e = pressure**2 / (2 * bulk) + 0.5 * density * (velocity**2).sum(-1)
    return e.sum(axis=(-2, -1)) * cell_area


def generate(*, n_traj: int, res: int, steps: int, seed: int,
             progress: Callable[[int], None] = lambda k: None) -> GeneratedData:
    pyclaw, riemann = import_pyclaw()
    x, y = cell_centres(0.0, 1.0, res), cell_centres(0.0, 1.0, res)
    times = DT_OUT * np.arange(steps)
    out = {"pressure": [], "velocity": []}
    media = {"density": [], "speed_of_sound": []}
    for rng in trajectory_rngs(seed, n_traj):
        solver = pyclaw.ClawSolver2D(riemann.vc_acoustics_2D)
        solver.dimensional_split = False
        solver.limiters = pyclaw.limiters.tvd.MC
        solver.bc_lower[0] = solver.bc_upper[0] = pyclaw.BC.wall
        solver.bc_lower[1] = solver.bc_upper[1] = pyclaw.BC.extrap
        solver.aux_bc_lower[0] = solver.aux_bc_upper[0] = pyclaw.BC.extrap
        solver.aux_bc_lower[1] = solver.aux_bc_upper[1] = pyclaw.BC.extrap
        domain = pyclaw.Domain([pyclaw.Dimension(0.0, 1.0, res, name="x"),
                                pyclaw.Dimension(0.0, 1.0, res, name="y")])
        state = pyclaw.State(domain, 3, 2)
        rho, c = random_medium(rng, x, y)
        state.aux[0], state.aux[1] = rho, c
        state.q[0] = initial_pressure(rng, x, y)
        state.q[1] = state.q[2] = 0.0
        frames = evolve_frames(solver, pyclaw.Solution(state, domain), times,
                               lambda s: {"p": s.q[0].copy(), "u": np.moveaxis(s.q[1:3], 0, -1).copy()},
                               progress)
        out["pressure"].append(frames["p"])
        out["velocity"].append(frames["u"])
        media["density"].append(rho)
        media["speed_of_sound"].append(c)
    return GeneratedData(dimensions={"x": x, "y": y}, time=times,
                         fields={k: np.stack(v) for k, v in out.items()},
                         constant_fields={k: np.stack(v) for k, v in media.items()},
                         units=UNITS, unit_scaling=UNIT_SCALING)
