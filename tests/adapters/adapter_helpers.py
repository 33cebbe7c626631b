"""PyClaw shallow-water helpers for the adapter tests (a plain module: conftest names collide across test dirs)."""

from __future__ import annotations

import numpy as np

DT = 4.0 / 30
UNITS = {"height": "m", "velocity": "m s-1"}


def shallow_water(res: int = 16, *, bc: str = "wall"):
    """PyClaw's 2-D Roe shallow-water solver on a 10 m basin with one mound, released from rest."""
    from walrus.data.generators._pyclaw import import_pyclaw

    pyclaw, riemann = import_pyclaw()
    solver = pyclaw.ClawSolver2D(riemann.shallow_roe_with_efix_2D)
    solver.limiters = pyclaw.limiters.tvd.MC
    solver.all_bcs = getattr(pyclaw.BC, bc)
    solver.verbosity = 0
    domain = pyclaw.Domain([pyclaw.Dimension(0.0, 10.0, res, name="x"), pyclaw.Dimension(0.0, 10.0, res, name="y")])
    state = pyclaw.State(domain, 3)
    state.problem_data["grav"] = 9.81
    x, y = domain.grid.p_centers
    state.q[0] = 1.0 + 0.3 * np.exp(-((x - 4.0) ** 2 + (y - 6.0) ** 2) / 2.0)
    state.q[1] = state.q[2] = 0.0
    return solver, pyclaw.Solution(state, domain)


def solver_only_heights(res: int, steps: int) -> list[np.ndarray]:
    """The reference: PyClaw alone, one frame per interval DT."""
    solver, solution = shallow_water(res)
    out = [np.array(solution.state.q[0])]
    for i in range(steps):
        solver.evolve_to_time(solution, (i + 1) * DT)
        out.append(np.array(solution.state.q[0]))
    return out
