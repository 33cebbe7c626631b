"""scipy ``solve_ivp`` (method of lines): integrate segment by segment, the surrogate replacing some segments.

    hybrid = ScipyIVPHybrid(rhs, y0, surrogate, fields={"A": "1", "B": "1"},
                            coords={"x": x, "y": y}, boundaries={"x": "PERIODIC", "y": "PERIODIC"},
                            dt=1.0, method="RK45", policy=HybridPolicy(k=1, m=1))
    hybrid.run(20)          # hybrid.y is the current state vector

The state vector ``y`` is the concatenation, in the order of ``fields``, of each field's array in
walrus layout ``(*spatial[, D])`` flattened in C order; ``fields`` maps each name to the units
the right-hand side works in. A solver segment is one ``solve_ivp(rhs, (t, t + dt), y)`` call
(adaptive inside); a surrogate segment writes the predicted frame into ``y``. The grid and
boundaries are the user's: a method-of-lines right-hand side does not expose them.
"""

from __future__ import annotations

from typing import Callable, Mapping

import numpy as np
from scipy.integrate import solve_ivp

from walrus.errors import ConfigError, ShapeError
from walrus.plugins import fieldset
from walrus_adapters import checks
from walrus_adapters.guard import DriftGuard
from walrus_adapters.hybrid import Hybrid, HybridPolicy
from walrus_adapters.layout import Layout, check_units, resolve_boundaries

__all__ = ["VectorLayout", "ScipyIVPCoupling", "ScipyIVPHybrid", "METHODS", "OPTIONS"]

#: solve_ivp's built-in methods (an OdeSolver subclass is accepted too)
METHODS = ("RK45", "RK23", "DOP853", "Radau", "BDF", "LSODA")
#: the solve_ivp options a segment passes on (t_span, y0, t_eval, dense_output and events are the adapter's)
OPTIONS = ("rtol", "atol", "max_step", "first_step", "min_step", "jac", "jac_sparsity", "lband", "uband",
           "vectorized", "args")


def check_options(method, options: Mapping) -> None:
    """``method`` is a solve_ivp method; ``options`` are solve_ivp options with sensible values."""
    from scipy.integrate import OdeSolver

    if not ((isinstance(method, str) and method in METHODS)
            or (isinstance(method, type) and issubclass(method, OdeSolver))):
        raise ConfigError("unknown solve_ivp method", field="method", expected=f"one of {list(METHODS)} or an OdeSolver class",
                          received=checks.received(method))
    for key, value in options.items():
        if key not in OPTIONS:
            raise ConfigError("not a solve_ivp option this adapter passes on", field=key,
                              expected=f"one of {list(OPTIONS)}", received=checks.received(value))
        if key in ("rtol", "max_step", "first_step"):
            checks.real(key, value, low=0.0, low_open=True)
        elif key in ("min_step",):
            checks.real(key, value, low=0.0)
        elif key == "atol" and np.ndim(value) == 0:
            checks.real(key, value, low=0.0)
        elif key == "atol":
            a = np.asarray(value)
            if a.dtype.kind not in "iuf" or a.ndim != 1 or not np.isfinite(a).all() or (a < 0).any():
                raise ConfigError(field="atol", expected="a number >= 0 or one per entry of y",
                                  received=checks.received(value))
        elif key == "args" and not isinstance(value, tuple):
            raise ConfigError(field="args", expected="a tuple of extra arguments of rhs", received=checks.received(value))


class VectorLayout:
    """Packs ``{field: (*spatial[, D])}`` into one flat vector and back, fields in a fixed order."""

    def __init__(self, names, spatial: tuple[int, ...]):
        D = len(spatial)
        self.shapes = {n: spatial + (D,) * fieldset()[n].rank for n in names}
        self.size = sum(int(np.prod(s)) for s in self.shapes.values())

    def unpack(self, y: np.ndarray) -> dict[str, np.ndarray]:
        y = np.asarray(y)
        if y.shape != (self.size,):
            raise ShapeError("state vector does not fit the fields", field="y",
                             expected=f"shape ({self.size},) = " + " + ".join(f"{n}{s}" for n, s in self.shapes.items()),
                             received=y.shape)
        out, i = {}, 0
        for n, s in self.shapes.items():
            k = int(np.prod(s))
            out[n] = y[i:i + k].reshape(s).copy()
            i += k
        return out

    def pack(self, frame: Mapping[str, np.ndarray]) -> np.ndarray:
        return np.concatenate([np.asarray(frame[n], dtype=np.float64).reshape(-1) for n in self.shapes])


class ScipyIVPCoupling:
    """Holds ``y``; a solver segment is one ``solve_ivp`` call over ``(t, t + dt)``."""

    def __init__(self, rhs: Callable, y0, vector: VectorLayout, method: str, options: Mapping):
        self.rhs, self.vector, self.method, self.options = rhs, vector, method, dict(options)
        try:
            self.y = np.array(y0, dtype=np.float64)
        except (TypeError, ValueError, OverflowError):
            raise ShapeError("the initial state is not an array of real numbers", field="y0",
                             expected="a 1-D float array", received=checks.received(y0)) from None
        vector.unpack(self.y)  # shape check up front
        if not np.isfinite(self.y).all():
            raise ShapeError("the initial state holds NaN or inf", field="y0", expected="finite values",
                             received=f"{int((~np.isfinite(self.y)).sum())} non-finite of {self.y.size}")
        self.nfev = 0

    def read(self) -> dict[str, np.ndarray]:
        return self.vector.unpack(self.y)

    def write(self, frame, time: float) -> None:
        self.y = self.vector.pack(frame)

    def advance(self, time: float, dt: float) -> None:
        sol = solve_ivp(self.rhs, (time, time + dt), self.y, method=self.method, **self.options)
        if not sol.success:
            raise RuntimeError(f"solve_ivp failed on [{time}, {time + dt}]: {sol.message}")
        self.nfev += sol.nfev
        self.y = sol.y[:, -1].copy()


class ScipyIVPHybrid(Hybrid):
    """The hybrid loop over ``solve_ivp`` segments (see module doc)."""

    def __init__(self, rhs: Callable, y0, surrogate, *, fields: Mapping[str, str], coords: Mapping[str, np.ndarray],
                 boundaries: Mapping[str, object], dt: float, t0: float = 0.0, method: str = "RK45",
                 policy: HybridPolicy | None = None, guard: DriftGuard | None = None,
                 constant_fields: Mapping[str, np.ndarray] | None = None,
                 constant_units: Mapping[str, str] | None = None, **ivp_options):
        checks.callable_("rhs", rhs, what="the method-of-lines right-hand side rhs(t, y) -> dy/dt")
        fields = checks.mapping("fields", fields, what="{field: the units rhs works in}", optional=False)
        if not fields:
            raise ConfigError(field="fields", expected="at least one {field: units}", received="{}")
        units = check_units(tuple(fields), fields)
        coords = checks.mapping("coords", coords, what="{axis: 1-D cell centres}", optional=False)
        if not 1 <= len(coords) <= 3:
            raise ConfigError(field="coords", expected="1 to 3 axes {axis: 1-D cell centres}",
                              received=f"{len(coords)} axes")
        for axis, c in coords.items():
            try:
                c = np.asarray(c, dtype=np.float64)
            except (TypeError, ValueError):
                c = None
            if c is None or c.ndim != 1 or c.size < 1 or not np.isfinite(c).all() or (c.size > 1 and not (np.diff(c) > 0).all()):
                raise ConfigError(field=f"coords[{axis!r}]", expected="a 1-D array of finite, increasing cell centres",
                                  received=checks.received(coords[axis]))
        coords = {a: np.asarray(c, dtype=np.float64) for a, c in coords.items()}
        checks.real("t0", t0, what="the start time")
        check_options(method, ivp_options)
        spatial = tuple(c.size for c in coords.values())
        constants = dict(constant_fields or {})
        layout = Layout(units=units, coords=coords,
                        boundaries=resolve_boundaries({a: None for a in coords}, boundaries, solver="solve_ivp"),
                        constant_fields=constants,
                        constant_units=check_units(tuple(constants), constant_units, what="constant field")
                        if constants else {})
        coupling = ScipyIVPCoupling(rhs, y0, VectorLayout(units, spatial), method, ivp_options)
        super().__init__(surrogate, coupling, layout, dt=dt, time=t0, policy=policy, guard=guard)

    @property
    def y(self) -> np.ndarray:
        return self.coupling.y
