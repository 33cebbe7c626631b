"""Shallow water in a closed basin: PyClaw's 2-D Roe solver (``shallow_roe_with_efix_2D``).

Random mounds and dips of water on a 1 m deep, 10 m wide basin with reflecting walls, released
from rest; they spread as gravity waves and reflect. Walls make total water volume exact.

Units: PyClaw solves in whatever units its inputs are in; here they are SI. Gravity is
``problem_data["grav"] = 9.81`` (m s-2), the domain is 10 m wide, so heights are in m, the
velocities (hu/h, hv/h) in m s-1 and times in s: no scaling is involved, and the files say so
(`UNITS`, `COORD_UNITS`, `UNIT_SCALING` go into GeneratedData). An adapter run of this solver
states the same units (``walrus quickstart`` and ``examples/adapter_pyclaw.py`` do).

`make_solver` is the one set-up of this solver: the generator, ``walrus quickstart``, the PyClaw
adapter's example, its tests and the benchmarks all call it.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from walrus.data.generators._grid import cell_centres, trajectory_rngs
from walrus.data.generators._pyclaw import evolve_frames, import_pyclaw
from walrus.errors import BoundaryError, ShapeError
from walrus.hooks import GeneratedData

GRAVITY = 9.81  # m s-2
WIDTH = 10.0  # m
DEPTH = 1.0  # m
DT_OUT = 4.0 / 30  # s; 30 frames (the default): a wave at sqrt(g h) ~ 3.1 m/s crosses the basin once
UNITS = {"height": "m", "velocity": "m s-1"}  # of the fields PyClaw's q gives (h, hu/h, hv/h)
COORD_UNITS = {"x": "m", "y": "m", "time": "s"}
UNIT_SCALING = ("SI: PyClaw's inputs are SI (g = 9.81 m s-2, a 10 m basin 1 m deep), so one code unit is "
                "L0 = 1 m of length and t0 = 1 s of time: heights in m, velocities in m s-1, times in s")


def initial_height(rng: np.random.Generator, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Still water plus 2-4 Gaussian mounds or dips of 0.1-0.5 m."""
    xx, yy = np.meshgrid(x, y, indexing="ij")
    h = np.full_like(xx, DEPTH)
    for _ in range(rng.integers(2, 5)):
        cx, cy = rng.uniform(0.2, 0.8, size=2) * WIDTH
        w = rng.uniform(0.05, 0.12) * WIDTH
        h += rng.choice([-1.0, 1.0]) * rng.uniform(0.1, 0.5) * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / w**2)
    return np.maximum(h, 0.2 * DEPTH)


def make_solver(res: int, initial, *, bc: str = "wall", gravity: float = GRAVITY, width: float = WIDTH):
    """PyClaw's 2-D Roe shallow-water solver on a ``width`` x ``width`` m basin of ``res`` x ``res`` cells.

    ``initial`` is the water height at rest (velocities start at zero): an array (res, res), a
    function ``h(x, y)`` of the cell centres (2-D, 'ij' indexing), or a ``numpy.random.Generator``
    for the dataset's random mounds and dips (`initial_height`). ``bc`` is PyClaw's name for every
    side ('wall', 'extrap', 'periodic', 'custom'; see ``clawpack.pyclaw.BC``). Returns
    ``(solver, solution)``, quiet (``verbosity = 0``), at t = 0, in SI units (module doc).
    """
    pyclaw, riemann = import_pyclaw()
    solver = pyclaw.ClawSolver2D(riemann.shallow_roe_with_efix_2D)
    solver.limiters = pyclaw.limiters.tvd.MC
    solver.dimensional_split = True
    if not hasattr(pyclaw.BC, str(bc)):
        raise BoundaryError("unknown PyClaw boundary condition", field="bc",
                            expected="one of 'wall', 'extrap', 'periodic', 'custom'", received=repr(bc))
    solver.all_bcs = getattr(pyclaw.BC, bc)
    solver.verbosity = 0
    domain = pyclaw.Domain([pyclaw.Dimension(0.0, width, res, name="x"),
                            pyclaw.Dimension(0.0, width, res, name="y")])
    state = pyclaw.State(domain, 3)
    state.problem_data["grav"] = gravity
    x, y = cell_centres(0.0, width, res), cell_centres(0.0, width, res)
    if isinstance(initial, np.random.Generator):
        h = initial_height(initial, x, y)
    elif callable(initial):
        h = initial(*np.meshgrid(x, y, indexing="ij"))
    else:
        h = initial
    h = np.asarray(h, dtype=np.float64)
    if h.shape != (res, res):
        raise ShapeError("initial height does not fit the grid", field="height", expected=(res, res), received=h.shape)
    state.q[0] = h
    state.q[1] = state.q[2] = 0.0
    return solver, pyclaw.Solution(state, domain)


def one_mound(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """1 m of still water with a 0.3 m Gaussian mound at (4 m, 6 m): the examples' and tests' start."""
    return DEPTH + 0.3 * np.exp(-((x - 4.0) ** 2 + (y - 6.0) ** 2) / 2.0)


def generate(*, n_traj: int, res: int, steps: int, seed: int,
             progress: Callable[[int], None] = lambda k: None) -> GeneratedData:
    x, y = cell_centres(0.0, WIDTH, res), cell_centres(0.0, WIDTH, res)
    times = DT_OUT * np.arange(steps)
    out = {"height": [], "velocity": []}

    def read(s) -> dict:
        h = s.q[0].copy()
        return {"height": h, "velocity": np.stack([s.q[1] / h, s.q[2] / h], axis=-1)}

    for rng in trajectory_rngs(seed, n_traj):
        solver, solution = make_solver(res, rng)
        frames = evolve_frames(solver, solution, times, read, progress)
        for k in out:
            out[k].append(frames[k])
    return GeneratedData(dimensions={"x": x, "y": y}, time=times,
                         fields={k: np.stack(v) for k, v in out.items()}, scalars={"gravity": GRAVITY},
                         units={**UNITS, **COORD_UNITS, "gravity": "m s-2"}, unit_scaling=UNIT_SCALING)
