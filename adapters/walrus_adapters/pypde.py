"""py-pde: a solver class that puts the surrogate inside ``pde.Controller`` runs, trackers and all.

    solver = WalrusHybridSolver(eq, surrogate, fields=["concentration"], units={"concentration": "1"},
                                inner_dt=0.01, policy=HybridPolicy(k=1, m=1))
    final = pde.Controller(solver, t_range=2.0, tracker=["progress", storage.tracker(0.1)]).run(state, dt=0.1)
    solver.hybrid.records        # which steps were surrogate and which solver, and why

The Controller's ``dt`` is the hybrid interval (the frame interval the surrogate was trained on).
A solver interval runs an ordinary py-pde solver (``inner``, default explicit Runge-Kutta) from t
to t + dt with its own ``inner_dt``, PDE post-step hooks included; a surrogate interval writes the
predicted frame into the state data. ``fields`` names the walrus field of each sub-field of the
state (a ScalarField/VectorField/Tensor2Field or a FieldCollection, in order). Periodic grid axes
are PERIODIC; a non-periodic axis takes the PDE's ``bc`` as py-pde parses it ('neumann',
'dirichlet', ...), translated by the plugins' BoundarySpecs (``solver_names={"py-pde": ...}``).
Declare an axis in ``boundaries`` where the PDE keeps no single ``bc`` or no plugin knows its name.
Works on py-pde's numpy backend.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from pde import FieldCollection
from pde.solvers.base import SolverBase

from walrus.errors import ConfigError, FieldError, ShapeError
from walrus.plugins import fieldset
from walrus_adapters import checks
from walrus_adapters.guard import DriftGuard
from walrus_adapters.hybrid import Hybrid, HybridPolicy
from walrus_adapters.layout import Layout, check_units, resolve_boundaries

__all__ = ["PyPDECoupling", "WalrusHybridSolver"]


def _parts(state) -> list:
    return list(state) if isinstance(state, FieldCollection) else [state]


def bc_name(bc) -> str:
    """py-pde's name for one side's condition: 'periodic', 'dirichlet', 'neumann' (a zero derivative;
    a non-zero one is 'derivative'), else the condition's first registered name ('mixed', 'curvature', ...)."""
    names = list(getattr(bc, "names", None) or [])
    if "Periodic" in type(bc).__name__:
        return "periodic"
    if "neumann" in names:
        value = getattr(bc, "value", 0)
        return "neumann" if np.all(np.asarray(value) == 0) else "derivative"
    if "dirichlet" in names:
        return "dirichlet"
    return names[0] if names else type(bc).__name__


def pde_boundaries(pde, state) -> dict[str, tuple[str, str] | None]:
    """Each grid axis's (low, high) py-pde condition names, parsed by py-pde from the PDE's conditions.

    Periodic grid axes are 'periodic'. The conditions are the PDE's ``bc`` (DiffusionPDE and the
    other built-in PDEs) or its ``bcs`` (``pde.PDE``, also per variable: ``bc={"c": "neumann"}``).
    An axis is None where the PDE keeps none that py-pde's parser accepts, or where the sub-fields
    of a collection disagree: the user then declares it.
    """
    grid, parts = state.grid, _parts(state)
    specs = _part_specs(pde, len(parts))
    per_part = []
    for part, spec in zip(parts, specs or ()):
        try:
            parsed = grid.get_boundary_conditions(spec, rank=part.rank)
        except Exception:  # py-pde refuses it for this grid/field: the user declares it
            per_part = []
            break
        per_part.append([(bc_name(axis_bc.low), bc_name(axis_bc.high)) for axis_bc in parsed])
    out = {}
    for i, (axis, periodic) in enumerate(zip(grid.axes, grid.periodic)):
        seen = {p[i] for p in per_part}
        out[axis] = ("periodic", "periodic") if periodic else (seen.pop() if len(seen) == 1 else None)
    return out


def _part_specs(pde, n_parts: int) -> list | None:
    """The py-pde condition spec of each sub-field, or None where the PDE does not keep them."""
    if getattr(pde, "bc", None) is not None:
        return [pde.bc] * n_parts
    bcs = getattr(pde, "bcs", None)
    if not (isinstance(bcs, dict) and set(bcs) == {"*:*"}):
        return None  # no conditions, or conditions per operator
    spec, variables = bcs["*:*"], list(getattr(pde, "variables", ()))
    if isinstance(spec, dict) and spec and set(spec) <= set(variables) | {"*"}:  # per variable
        if len(variables) != n_parts:
            return None
        return [spec.get(v, spec.get("*", "auto_periodic_neumann")) for v in variables]
    return [spec] * n_parts


class PyPDECoupling:
    """Maps py-pde's state data (components first) to walrus frames (components last) and runs the inner stepper."""

    def __init__(self, state, names: Sequence[str], inner, inner_dt: float):
        parts = _parts(state)
        self.D = state.grid.dim
        self.slots = []
        start = 0
        for name, part in zip(names, parts):
            n = self.D ** part.rank
            self.slots.append((name, part.rank, slice(start, start + n)))
            start += n
        self.collection = isinstance(state, FieldCollection)
        self.scratch = state.copy()
        self.stepper = inner.make_stepper(self.scratch, dt=inner_dt)
        self.data = state.data

    def _rows(self, data: np.ndarray) -> np.ndarray:
        return data if self.collection else data.reshape((-1,) + data.shape[data.ndim - self.D:])

    def read(self) -> dict[str, np.ndarray]:
        rows, grid = self._rows(self.data), self.data.shape[-self.D:]
        out = {}
        for name, rank, sl in self.slots:
            block = rows[sl].reshape((self.D,) * rank + grid)
            for _ in range(rank):
                block = np.moveaxis(block, 0, -1)
            out[name] = np.array(block)
        return out

    def write(self, frame, time: float) -> None:
        rows, grid = self._rows(self.data), self.data.shape[-self.D:]
        for name, rank, sl in self.slots:
            block = np.asarray(frame[name])
            for _ in range(rank):
                block = np.moveaxis(block, -1, 0)
            rows[sl] = block.reshape((-1,) + grid)

    def advance(self, time: float, dt: float) -> None:
        self.scratch.data[...] = self.data
        self.stepper(self.scratch, time, time + dt)
        self.data[...] = self.scratch.data


class WalrusHybridSolver(SolverBase):
    """A py-pde solver whose steps are guarded hybrid intervals (see module doc)."""

    name = "walrus_hybrid"
    _use_post_step_hook = False  # the inner solver applies the PDE's hook on the steps it computes

    def __init__(self, pde, surrogate, *, fields: Sequence[str], units: Mapping[str, str], inner="runge-kutta",
                 inner_dt: float = 1e-3, policy: HybridPolicy | None = None, guard: DriftGuard | None = None,
                 boundaries: Mapping[str, object] | None = None, backend: str = "numpy"):
        from pde.pdes.base import PDEBase

        if not isinstance(backend, str) or backend != "numpy":
            raise ConfigError("WalrusHybridSolver runs on py-pde's numpy backend", field="backend", expected="'numpy'",
                              received=checks.received(backend))
        if not isinstance(pde, PDEBase):
            raise ConfigError(field="pde", expected="a py-pde PDE (pde.PDEBase: DiffusionPDE, pde.PDE(...), ...)",
                              received=checks.received(pde))
        checks.surrogate_like(surrogate)
        super().__init__(pde, backend=backend)
        self.surrogate = surrogate
        self.fields = checks.names("fields", fields, what="walrus field names, one per sub-field of the state")
        self.units = check_units(self.fields, units)
        self.inner_dt = checks.real("inner_dt", inner_dt, low=0.0, low_open=True,
                                    what="the positive time step of the inner py-pde solver")
        self.inner = inner
        self._inner_solver()  # an unknown solver name is refused now, not at the first solver step
        if policy is not None and not isinstance(policy, HybridPolicy):
            raise ConfigError(field="policy", expected="a HybridPolicy(k=..., m=...) or None",
                              received=checks.received(policy))
        if guard is not None and not isinstance(guard, DriftGuard):
            raise ConfigError(field="guard", expected="a DriftGuard(...) or None", received=checks.received(guard))
        self.policy, self.guard = policy or HybridPolicy(), guard or DriftGuard()
        self.boundaries = checks.mapping("boundaries", boundaries, what="{axis: 'WALL' | 'OPEN' | 'PERIODIC' | (low, high)}")
        self.hybrid: Hybrid | None = None
        self.guard.validate({n: fieldset()[n].rank for n in self.fields})

    def _inner_solver(self) -> SolverBase:
        if isinstance(self.inner, SolverBase):
            return self.inner
        known = sorted(n for n in getattr(SolverBase, "_subclasses", {})
                       if not n.endswith(("Solver", "Base")) and n != self.name)
        if not isinstance(self.inner, str) or (known and self.inner not in known):
            raise ConfigError("unknown inner py-pde solver", field="inner",
                              expected=f"a py-pde solver or one of {known}", received=checks.received(self.inner))
        try:
            return SolverBase.from_name(self.inner, self.pde, backend="numpy")
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError("py-pde cannot make this inner solver", field="inner",
                              expected=f"a py-pde solver or one of {known}", received=f"{self.inner!r} ({exc})") from None

    def layout(self, state) -> Layout:
        """Check the state against ``fields`` and describe it for walrus."""
        parts = _parts(state)
        if len(parts) != len(self.fields):
            raise FieldError("fields must name every sub-field of the state, in order", field="fields",
                             expected=f"{len(parts)} names for {[p.label or type(p).__name__ for p in parts]}",
                             received=self.fields)
        for name, part in zip(self.fields, parts):
            if fieldset()[name].rank != part.rank:
                raise FieldError("tensor rank differs from the py-pde field's", field=name,
                                 expected=f"rank {part.rank} ({type(part).__name__})",
                                 received=f"walrus field of rank {fieldset()[name].rank}")
        if np.iscomplexobj(state.data):
            raise ShapeError("complex state", field="state", expected="real-valued fields", received=str(state.data.dtype))
        grid = state.grid
        if not hasattr(grid, "periodic") or len(grid.axes) != grid.dim:
            raise ShapeError("unsupported grid", field="grid", expected="a CartesianGrid/UnitGrid",
                             received=type(grid).__name__)
        return Layout(units=self.units, coords={a: np.asarray(c) for a, c in zip(grid.axes, grid.axes_coords)},
                      boundaries=resolve_boundaries(pde_boundaries(self.pde, state), self.boundaries, solver="py-pde"))

    def _make_single_step_fixed_dt(self, state, dt: float):
        layout = self.layout(state)
        coupling = PyPDECoupling(state, self.fields, self._inner_solver(), self.inner_dt)
        hybrid = Hybrid(self.surrogate, coupling, layout, dt=dt, policy=self.policy, guard=self.guard)
        self.hybrid = hybrid

        def single_step(data: np.ndarray, t: float) -> np.ndarray:
            coupling.data = data
            hybrid.time = float(t)  # the Controller's clock
            hybrid.step()
            return coupling.data

        return single_step
