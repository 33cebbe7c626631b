"""Linear acoustics in 3-D random media: PyClaw's variable-coefficient 3-D acoustics (``vc_acoustics_3D``).

The 3-D sibling of ``acoustics.py``: pressure pulses cross a unit-cube duct with reflecting walls
on x and y and open ends on z, through a medium with random spherical inclusions of other
density and sound speed; they reflect, refract, focus and leave through the ends. The medium
is returned as constant fields. (``vc_acoustics_3D`` takes the impedance rho c and the sound
speed as its coefficients, where the 2-D solver takes the density.)

Numerics: as in ``euler_3d.py``, unsplit wave propagation without transverse corrections, MC
limiter, Courant number 0.3 per direction. With corner transport (``transverse_waves = 22``, PyClaw's
default) at Courant 0.8 the energy of some media grew by 1e11 within 40 frames. The acoustic
energy can only leave (open ends) or be dissipated, so a run whose energy grows past
`ENERGY_GROWTH_LIMIT` is refused rather than written; the limited scheme's discrete energy may
wobble by ~0.5% at the inclusions (seen at 48^3), an instability grows by orders of magnitude.

Units: code units named as SI exactly as in ``acoustics.py`` (L0 = 1 m, c0 = 1 m s-1,
rho0 = 1 kg m-3; so time in s and pressure in Pa: `UNITS`, `UNIT_SCALING`, written into the files).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from walrus.data.generators._grid import cell_centres, trajectory_rngs
from walrus.data.generators._pyclaw import evolve_frames, import_pyclaw
from walrus.hooks import GeneratedData

DT_OUT = 1.0 / 40  # 40 frames (the default) span one crossing of the box at the background sound speed
TRANSVERSE_WAVES = 0  # PyClaw's 3-D code for none (see euler_3d.py)
CFL_DESIRED, CFL_MAX = 0.3, 1.0 / 3.0  # per direction: their sum stays <= 1
ENERGY_GROWTH_LIMIT = 0.05  # relative: a run whose acoustic energy grows more than this is unstable

UNIT_SCALING = ("code units scaled by L0 = 1 m (box width), c0 = 1 m s-1 (background sound speed) and "
                "rho0 = 1 kg m-3 (background density): time in L0/c0 = 1 s, pressure in rho0 c0^2 = 1 Pa, "
                "velocity in c0 = 1 m s-1")
UNITS = {"x": "m", "y": "m", "z": "m", "time": "s", "pressure": "Pa", "velocity": "m s-1",
         "density": "kg m-3", "speed_of_sound": "m s-1"}


def _grid(x: np.ndarray) -> list[np.ndarray]:
    return np.meshgrid(x, x, x, indexing="ij")


def random_medium(rng: np.random.Generator, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Background (rho=1, c=1) with 2-5 spherical inclusions of random density (0.5-4) and sound speed (0.5-2)."""
    grid = _grid(x)
    rho, c = np.ones_like(grid[0]), np.ones_like(grid[0])
    for _ in range(rng.integers(2, 6)):
        centre, r = rng.uniform(0.15, 0.85, size=3), rng.uniform(0.08, 0.18)
        inside = sum((g - cc) ** 2 for g, cc in zip(grid, centre)) < r * r
        rho[inside], c[inside] = rng.uniform(0.5, 4.0), rng.uniform(0.5, 2.0)
    return rho, c


def initial_pressure(rng: np.random.Generator, x: np.ndarray) -> np.ndarray:
    """One to three Gaussian pulses of random position, width (0.05-0.1) and sign."""
    grid = _grid(x)
    p = np.zeros_like(grid[0])
    for _ in range(rng.integers(1, 4)):
        centre, w = rng.uniform(0.2, 0.8, size=3), rng.uniform(0.05, 0.1)
        r2 = sum((g - cc) ** 2 for g, cc in zip(grid, centre))
        p += rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 1.0) * np.exp(-r2 / w**2)
    return p


def acoustic_energy(pressure: np.ndarray, velocity: np.ndarray, density: np.ndarray,
                    speed_of_sound: np.ndarray, cell_volume: float) -> np.ndarray:
    """Total acoustic energy p^2/(2 rho c^2) + rho |u|^2 / 2 over the 3-D domain, per leading index."""
    e = pressure**2 / (2 * density * speed_of_sound**2) + 0.5 * density * (velocity**2).sum(-1)
    return e.sum(axis=(-3, -2, -1)) * cell_volume


def generate(*, n_traj: int, res: int, steps: int, seed: int,
             progress: Callable[[int], None] = lambda k: None) -> GeneratedData:
    pyclaw, riemann = import_pyclaw()
    x = cell_centres(0.0, 1.0, res)
    times = DT_OUT * np.arange(steps)
    out = {"pressure": [], "velocity": []}
    media = {"density": [], "speed_of_sound": []}
    for rng in trajectory_rngs(seed, n_traj):
        solver = pyclaw.ClawSolver3D(riemann.vc_acoustics_3D)
        solver.dimensional_split = False
        solver.transverse_waves = TRANSVERSE_WAVES
        solver.limiters = pyclaw.limiters.tvd.MC
        solver.cfl_desired, solver.cfl_max = CFL_DESIRED, CFL_MAX
        for axis, bc in enumerate((pyclaw.BC.wall, pyclaw.BC.wall, pyclaw.BC.extrap)):
            solver.bc_lower[axis] = solver.bc_upper[axis] = bc
            solver.aux_bc_lower[axis] = solver.aux_bc_upper[axis] = pyclaw.BC.extrap
        domain = pyclaw.Domain([pyclaw.Dimension(0.0, 1.0, res, name=a) for a in ("x", "y", "z")])
        state = pyclaw.State(domain, 4, 2)
        rho, c = random_medium(rng, x)
        state.aux[0], state.aux[1] = rho * c, c  # impedance, sound speed
        state.q[0] = initial_pressure(rng, x)
        state.q[1:4] = 0.0
        frames = evolve_frames(solver, pyclaw.Solution(state, domain), times,
                               lambda s: {"p": s.q[0].copy(), "u": np.moveaxis(s.q[1:4], 0, -1).copy()},
                               progress)
        if not all(np.isfinite(v).all() for v in frames.values()):
            raise FloatingPointError("the 3-D acoustics run produced non-finite values")
        energy = acoustic_energy(frames["p"], frames["u"], rho, c, 1.0)
        if energy.max() > energy[0] * (1 + ENERGY_GROWTH_LIMIT):
            raise FloatingPointError(f"the 3-D acoustics run gained energy (x{energy.max() / energy[0]:.3g}): "
                                     f"the scheme went unstable")
        out["pressure"].append(frames["p"])
        out["velocity"].append(frames["u"])
        media["density"].append(rho)
        media["speed_of_sound"].append(c)
    return GeneratedData(dimensions={"x": x, "y": x.copy(), "z": x.copy()}, time=times,
                         fields={k: np.stack(v) for k, v in out.items()},
                         constant_fields={k: np.stack(v) for k, v in media.items()},
                         units=UNITS, unit_scaling=UNIT_SCALING)
