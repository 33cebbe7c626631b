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

from walrus.errors import ShapeError
from walrus.plugins import fieldset
from walrus_adapters.guard import DriftGuard
from walrus_adapters.hybrid import Hybrid, HybridPolicy
from walrus_adapters.layout import Layout, check_units, resolve_boundaries

__all__ = ["VectorLayout", "ScipyIVPCoupling", "ScipyIVPHybrid"]


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
        self.y = np.array(y0, dtype=np.float64)
        vector.unpack(self.y)  # shape check up front
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
        units = check_units(tuple(fields), fields)
        coords = {a: np.asarray(c, dtype=np.float64) for a, c in coords.items()}
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
