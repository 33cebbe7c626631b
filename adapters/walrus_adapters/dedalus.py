"""Dedalus 3: the surrogate replaces some output intervals of a ``solver.step`` loop.

    hybrid = DedalusHybrid(solver, surrogate, fields={"tracer": s, "velocity": u},
                           units={"tracer": "1", "velocity": "m s-1"}, dt=0.05, inner_dt=0.005,
                           policy=HybridPolicy(k=1, m=1))
    hybrid.run(20)

A solver interval is ``solver.step(inner_dt)`` repeated up to t + dt. A surrogate interval
writes each field's grid values (``f.change_scales(1); f['g'] = ...``) and sets
``solver.sim_time``. Use a Runge-Kutta timestepper (RK222, RK443): multistep schemes
(SBDF, CNAB) keep past right-hand sides that a written state would contradict. Fourier axes
are PERIODIC (the plugins' BoundarySpecs spell it ``solver_names={"dedalus": "Fourier"}``); declare
the others (e.g. Chebyshev walls, whose conditions are tau terms) in ``boundaries``. Fields the surrogate
does not predict (e.g. pressure) are left to the solver.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from walrus.errors import ConfigError, FieldError
from walrus.plugins import fieldset
from walrus_adapters import checks
from walrus_adapters.guard import DriftGuard
from walrus_adapters.hybrid import Hybrid, HybridPolicy
from walrus_adapters.layout import Layout, check_units, resolve_boundaries

__all__ = ["DedalusCoupling", "DedalusHybrid"]


def basis_name(basis) -> str:
    """What a Dedalus basis says about its axis's boundary: 'Fourier' (RealFourier, ComplexFourier), else
    the basis type ('ChebyshevT', ...), whose conditions live in the equations' tau terms."""
    kind = type(basis).__name__
    return "Fourier" if kind.endswith("Fourier") else kind


class DedalusCoupling:
    """Grid values of Dedalus fields (components first) <-> walrus frames (components last)."""

    def __init__(self, solver, fields: Mapping[str, object], inner_dt: float):
        self.solver, self.fields, self.inner_dt = solver, dict(fields), float(inner_dt)

    def read(self) -> dict[str, np.ndarray]:
        out = {}
        for name, f in self.fields.items():
            f.change_scales(1)
            data = np.array(f["g"], copy=True)
            rank = len(f.tensorsig)
            out[name] = np.moveaxis(data, list(range(rank)), list(range(data.ndim - rank, data.ndim))) if rank else data
        return out

    def write(self, frame, time: float) -> None:
        for name, f in self.fields.items():
            rank = len(f.tensorsig)
            a = np.asarray(frame[name])
            f.change_scales(1)
            f["g"] = np.moveaxis(a, list(range(a.ndim - rank, a.ndim)), list(range(rank))) if rank else a
        self.solver.sim_time = time

    def advance(self, time: float, dt: float) -> None:
        n = max(1, int(round(dt / self.inner_dt)))
        self.solver.sim_time = time
        for _ in range(n):
            self.solver.step(dt / n)


class DedalusHybrid(Hybrid):
    """The hybrid loop over a built Dedalus IVP solver (see module doc)."""

    def __init__(self, solver, surrogate, *, fields: Mapping[str, object], units: Mapping[str, str], dt: float,
                 inner_dt: float, policy: HybridPolicy | None = None, guard: DriftGuard | None = None,
                 boundaries: Mapping[str, object] | None = None):
        fields = checks.mapping("fields", fields, what="{walrus field: Dedalus field}", optional=False)
        if not fields:
            raise ConfigError(field="fields", expected="at least one {walrus field: Dedalus field}", received="{}")
        checks.has_attributes("solver", solver, ("step", "sim_time"), what="a built Dedalus IVP solver")
        names = tuple(fields)
        units = check_units(names, units)
        for name, f in fields.items():
            checks.has_attributes(f"fields[{name!r}]", f, ("tensorsig", "change_scales", "domain.bases", "dist"),
                                  what="a Dedalus field")
            if len(f.tensorsig) != fieldset()[name].rank:
                raise FieldError("tensor rank differs from the Dedalus field's", field=name,
                                 expected=f"rank {len(f.tensorsig)} ({f.name})",
                                 received=f"walrus field of rank {fieldset()[name].rank}")
        checks.real("inner_dt", inner_dt, low=0.0, low_open=True, what="the positive Dedalus time step")
        first = next(iter(fields.values()))
        bases = first.domain.bases
        dist = first.dist
        coords, solver_bcs = {}, {}
        for basis in bases:
            axis = basis.coord.name if hasattr(basis, "coord") else basis.coordsys.names[0]
            coords[axis] = np.asarray(basis.global_grid(dist, scale=1)).ravel()
            solver_bcs[axis] = (basis_name(basis),) * 2
        layout = Layout(units=units, coords=coords,
                        boundaries=resolve_boundaries(solver_bcs, boundaries, solver="dedalus"))
        super().__init__(surrogate, DedalusCoupling(solver, fields, inner_dt), layout, dt=dt,
                         time=float(solver.sim_time), policy=policy, guard=guard)
