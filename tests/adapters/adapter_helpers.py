"""PyClaw shallow-water helpers for the adapter tests (a plain module: conftest names collide across test dirs)."""

from __future__ import annotations

import numpy as np

from walrus.data.generators.shallow_water import DT_OUT as DT
from walrus.data.generators.shallow_water import UNITS, make_solver, one_mound

__all__ = ["DT", "UNITS", "shallow_water", "solver_only_heights"]


def shallow_water(res: int = 16, *, bc: str = "wall"):
    """PyClaw's 2-D Roe shallow-water solver on a 10 m basin with one mound, released from rest."""
    return make_solver(res, one_mound, bc=bc)


def solver_only_heights(res: int, steps: int) -> list[np.ndarray]:
    """The reference: PyClaw alone, one frame per interval DT."""
    solver, solution = shallow_water(res)
    out = [np.array(solution.state.q[0])]
    for i in range(steps):
        solver.evolve_to_time(solution, (i + 1) * DT)
        out.append(np.array(solution.state.q[0]))
    return out
