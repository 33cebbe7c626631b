"""Clawpack/PyClaw: the surrogate replaces some output intervals of ``solver.evolve_to_time``.

    hybrid = PyClawHybrid(solver, solution, surrogate, physics="shallow_water",
                          units={"height": "m", "velocity": "m s-1"}, dt=0.1,
                          policy=HybridPolicy(k=1, m=2), guard=DriftGuard(conserved={"height": 1e-3}))
    hybrid.run(40)                      # solution.state.q and solution.t are advanced in place

PyClaw keeps the state as conserved components ``q[m, i, j]``; a `QMap` says how they become
walrus fields and back (``physics=`` names the ones for PyClaw's acoustics, shallow-water and
Euler Riemann solvers; pass your own QMap for others). ``units`` are the solver's units of those
fields (and ``coord_units`` of its axes and time, e.g. ``{"x": "m", "y": "m", "time": "s"}``):
PyClaw has none of its own, so they are whatever the set-up's gravity and lengths make them. The solver's ``bc_lower``/``bc_upper``
names become walrus kinds through the plugins' BoundarySpecs (``solver_names={"clawpack": ...}``):
``wall``, ``extrap`` and ``periodic`` are WALL, OPEN and PERIODIC; a ``custom`` BC counts once a
plugin declares what it is, or when ``boundaries=`` declares the axis. Aux arrays named by the
QMap become constant fields (e.g. the medium of variable-coefficient acoustics).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Optional

import numpy as np

from walrus.errors import ConfigError, FieldError, ShapeError
from walrus_adapters import checks
from walrus_adapters.guard import DriftGuard
from walrus_adapters.hybrid import Hybrid, HybridPolicy
from walrus_adapters.layout import Layout, check_units, resolve_boundaries

__all__ = ["QMap", "QMAPS", "PyClawCoupling", "PyClawHybrid"]


@dataclass(frozen=True)
class QMap:
    """How PyClaw's ``q`` (num_eqn, *grid) maps to walrus fields and back; ``aux`` names aux rows as constants."""

    fields: tuple[str, ...]
    to_fields: Callable[[np.ndarray], dict]
    to_q: Callable[[Mapping[str, np.ndarray]], np.ndarray]
    aux: Mapping[str, int] = None

    def __post_init__(self):
        object.__setattr__(self, "aux", dict(self.aux or {}))


def _stack(*arrays) -> np.ndarray:
    return np.stack(arrays, axis=0)


QMAPS: dict[str, QMap] = {
    # riemann.acoustics_2D / vc_acoustics_2D: q = (p, u, v); vc's aux = (rho, c)
    "acoustics": QMap(("pressure", "velocity"),
                      lambda q: {"pressure": q[0], "velocity": np.moveaxis(q[1:3], 0, -1)},
                      lambda f: _stack(f["pressure"], *np.moveaxis(f["velocity"], -1, 0))),
    "vc_acoustics": QMap(("pressure", "velocity"),
                         lambda q: {"pressure": q[0], "velocity": np.moveaxis(q[1:3], 0, -1)},
                         lambda f: _stack(f["pressure"], *np.moveaxis(f["velocity"], -1, 0)),
                         aux={"density": 0, "speed_of_sound": 1}),
    # riemann.shallow_roe_with_efix_2D: q = (h, hu, hv)
    "shallow_water": QMap(("height", "velocity"),
                          lambda q: {"height": q[0], "velocity": np.moveaxis(q[1:3] / q[0], 0, -1)},
                          lambda f: _stack(f["height"], *(np.moveaxis(f["velocity"], -1, 0) * f["height"]))),
    # riemann.euler_*_2D: q = (rho, rho u, rho v, E)
    "euler": QMap(("density", "momentum", "energy"),
                  lambda q: {"density": q[0], "momentum": np.moveaxis(q[1:3], 0, -1), "energy": q[3]},
                  lambda f: _stack(f["density"], *np.moveaxis(f["momentum"], -1, 0), f["energy"])),
}

_BC_NAMES = ("custom", "extrap", "periodic", "wall")  # the attributes of clawpack.pyclaw.BC


def solver_boundaries(solver, solution) -> dict[str, tuple[str, str]]:
    """Each axis's (low, high) PyClaw names ('wall', 'extrap', ...) from the solver's bc_lower/bc_upper."""
    from clawpack.pyclaw import BC

    names = {getattr(BC, k): k for k in _BC_NAMES}
    return {dim.name: tuple(names.get(code, str(code)) for code in (solver.bc_lower[d], solver.bc_upper[d]))
            for d, dim in enumerate(solution.domain.grid.dimensions)}


class PyClawCoupling:
    """Reads and writes ``solution.state.q`` and advances with ``solver.evolve_to_time``."""

    def __init__(self, solver, solution, qmap: QMap):
        self.solver, self.solution, self.qmap = solver, solution, qmap

    def read(self) -> dict[str, np.ndarray]:
        q = np.array(self.solution.state.q)
        return {k: np.array(v) for k, v in self.qmap.to_fields(q).items()}

    def write(self, frame, time: float) -> None:
        q = self.qmap.to_q(frame)
        if q.shape != self.solution.state.q.shape:
            raise ShapeError("frame does not fit the solver's q", field="q", expected=self.solution.state.q.shape,
                             received=q.shape)
        self.solution.state.q[...] = q
        self.solution.t = time

    def advance(self, time: float, dt: float) -> None:
        self.solution.t = time
        self.solver.evolve_to_time(self.solution, time + dt)


class PyClawHybrid(Hybrid):
    """The hybrid loop over a PyClaw solver and solution (see module doc)."""

    def __init__(self, solver, solution, surrogate, *, physics: str | QMap, units: Mapping[str, str], dt: float,
                 policy: HybridPolicy | None = None, guard: DriftGuard | None = None,
                 boundaries: Mapping[str, object] | None = None, constant_units: Mapping[str, str] | None = None,
                 coord_units: Mapping[str, str] | None = None):
        if isinstance(physics, str):
            if physics not in QMAPS:
                raise FieldError("unknown PyClaw physics", field="physics", expected=f"one of {sorted(QMAPS)} or a QMap",
                                 received=repr(physics))
            physics = QMAPS[physics]
        if not isinstance(physics, QMap):
            raise ConfigError(field="physics", expected=f"one of {sorted(QMAPS)} or a QMap", received=checks.received(physics))
        checks.has_attributes("solver", solver, ("evolve_to_time", "bc_lower", "bc_upper"),
                              what="a PyClaw solver (clawpack.pyclaw.ClawSolver2D, SharpClawSolver2D, ...)")
        checks.has_attributes("solution", solution, ("state.q", "domain.grid.dimensions", "t"),
                              what="a PyClaw Solution (clawpack.pyclaw.Solution)")
        n_dims = len(solution.domain.grid.dimensions)
        if len(solver.bc_lower) < n_dims or len(solver.bc_upper) < n_dims:
            raise ConfigError("the solver has fewer boundary conditions than the solution has axes",
                              field="solver.bc_lower/bc_upper", expected=f"{n_dims} per side",
                              received=f"{list(solver.bc_lower)} / {list(solver.bc_upper)}")
        coord_units = checks.mapping("coord_units", coord_units, what="{axis or 'time': units}, e.g. {'x': 'm'}")
        solver.verbosity = 0
        grid = solution.domain.grid
        coords = {dim.name: np.asarray(dim.centers) for dim in grid.dimensions}
        constants = {name: np.array(solution.state.aux[row]) for name, row in physics.aux.items()}
        layout = Layout(units=check_units(physics.fields, units),
                        coords=coords,
                        boundaries=resolve_boundaries(solver_boundaries(solver, solution), boundaries, solver="clawpack"),
                        constant_fields=constants,
                        constant_units=check_units(tuple(constants), constant_units, what="constant field")
                        if constants else {},
                        coord_units=coord_units)
        super().__init__(surrogate, PyClawCoupling(solver, solution, physics), layout, dt=dt,
                         time=float(solution.t), policy=policy, guard=guard)
