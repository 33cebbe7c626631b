"""Layout: what walrus must know about a solver's frame to build a `State` from it.

A solver hands over arrays in its own units and layout; the adapter turns them into
``{field: (*spatial[, D])}`` frames. The Layout adds the rest — the units the solver uses for
each field, the grid, the boundary condition of each axis, constant fields — and builds the
`State` the surrogate reads. The State converts to the model's units and back, so the frames
that come back are in the solver's units again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence

import numpy as np

from walrus.boundaries import BOUNDARY_NAMES, parse_axis
from walrus.errors import BoundaryError, FieldError, UnitError
from walrus.plugins import fieldset, get_registry
from walrus.state import State
from walrus.units import check_compatible
from walrus_adapters import checks
from walrus_adapters.boundary_names import SOLVERS, solver_kind, unknown

__all__ = ["Layout", "check_units", "resolve_boundaries"]


def check_units(names: Sequence[str], units: Mapping[str, str] | None, *, what: str = "field") -> dict[str, str]:
    """Every field the solver hands over must be a known walrus field with declared units.

    Units are never guessed: a solver in km s-1 that silently passed as m s-1 would give a
    surrogate input 1000 times off.
    """
    label = "units" if what == "field" else "constant_units"
    units = checks.mapping(label, units, what=f"{{{what}: the solver's units}}, e.g. {{'height': 'm'}}")
    known = fieldset()
    for name in names:
        if not isinstance(name, str) or not name:
            raise FieldError(f"a {what} name must be a non-empty string", field=label, expected="a walrus field name",
                             received=checks.received(name))
        if name not in known:
            raise FieldError(f"unknown {what}", field=name, expected=f"a registered walrus field, e.g. {list(known.fields)[:8]}",
                             received=repr(name), hint="a plugin declares it (walrus_fields hook; walrus.plugins.register)")
        if name not in units:
            raise UnitError(f"no units declared for this {what}", field=name,
                            expected=f"units={{'{name}': ...}} in the solver's units (walrus's are '{known[name].units}')",
                            received=f"units for {sorted(units)}")
    extra = sorted(set(units) - set(names))
    if extra:
        raise FieldError(f"units given for a {what} the solver does not hand over", field=extra[0],
                         expected=f"one of {list(names)}", received=repr(extra[0]))
    for name in names:  # parsable, and of the field's physical dimension: refused now, not at the first step
        check_compatible(units[name], known[name].units, field=name)
    return {n: str(units[n]) for n in names}


def resolve_boundaries(solver_names: Mapping[str, Optional[tuple[str, str]]], declared: Mapping[str, object] | None,
                       *, solver: str) -> dict[str, tuple[int, int]]:
    """The boundary condition of each axis: the solver's where it can be read, else the user's.

    ``solver_names`` maps each axis to what the solver calls its (low, high) conditions, or None
    where the adapter cannot tell (e.g. a py-pde PDE without a ``bc``). Each name becomes a kind
    through the plugins' BoundarySpecs (`walrus_adapters.boundary_names`); a name no plugin
    declares needs the axis declared in ``boundaries``, else it is refused naming the side, the name
    and the known ones. A declared condition (a kind, a (low, high) pair or a registered boundary
    name such as ``"coast"``) must name an axis the solver has and agree with what the solver
    does: the surrogate pads by it.
    """
    label = SOLVERS.get(solver, solver)
    declared = checks.mapping("boundaries", declared,
                              what="{axis: 'WALL' | 'OPEN' | 'PERIODIC' | (low, high) | a registered boundary}")
    for axis in declared:
        if axis not in solver_names:
            raise BoundaryError(f"{label} has no such axis", field=f"axis {axis!r}",
                                expected=f"one of {list(solver_names)}", received=repr(axis))
    out = {}
    for axis, names in solver_names.items():
        given = parse_axis(_kinds(declared[axis]), axis=axis) if axis in declared else None
        have = None
        if names is not None:
            codes = [solver_kind(solver, name) for name in names]
            for side, name, code in zip(("low", "high"), names, codes):
                if code is None and given is None:
                    raise unknown(solver, name, axis=axis, side=side)
            have = None if None in codes else parse_axis(tuple(codes), axis=axis)
        if have is None and given is None:
            raise BoundaryError(f"{label} does not say which boundary condition this axis has", field=f"axis {axis!r}",
                                expected="boundaries={axis: 'WALL' | 'OPEN' | 'PERIODIC' | (low, high)}",
                                received="nothing declared")
        if have is not None and given is not None and tuple(given) != tuple(have):
            raise BoundaryError(f"declared boundary differs from the {label} solver's", field=f"axis {axis!r}",
                                expected=_names(have), received=_names(given))
        out[axis] = tuple(have if have is not None else given)
    return out


def _kinds(value):
    """A declared condition with registered boundary names ("coast", "absorbing") replaced by their kinds."""
    def one(v):
        if isinstance(v, str) and v.strip().upper() not in BOUNDARY_NAMES.values():
            try:
                return get_registry().boundary_kind(v.strip())
            except KeyError:
                return v  # parse_axis refuses it with the list of kinds
        return v

    if isinstance(value, str) and len(value.split()) == 2:
        value = tuple(value.split())
    return tuple(one(v) for v in value) if isinstance(value, (tuple, list)) else one(value)


def _names(pair) -> str:
    return "/".join(BOUNDARY_NAMES[c] for c in pair)


@dataclass(frozen=True)
class Layout:
    """Fields (name -> the solver's units), grid, boundaries and constants of a solver's frames."""

    units: Mapping[str, str]
    coords: Mapping[str, np.ndarray]
    boundaries: Mapping[str, object]
    constant_fields: Mapping[str, np.ndarray] = field(default_factory=dict)
    constant_units: Mapping[str, str] = field(default_factory=dict)
    parameters: Mapping[str, float] = field(default_factory=dict)
    coord_units: Mapping[str, str] = field(default_factory=dict)  # axes and "time", e.g. {"x": "m", "time": "s"}

    @property
    def ranks(self) -> dict[str, int]:
        return {name: fieldset()[name].rank for name in self.units}

    def state(self, frames: Sequence[Mapping[str, np.ndarray]], times: Sequence[float]) -> State:
        """A State of these frames (oldest first) in the solver's units; the State checks shapes and units."""
        missing = [n for n in self.units if any(n not in f for f in frames)]
        if missing:
            raise FieldError("a frame lacks a field", field=missing[0], expected=list(self.units),
                             received=[sorted(f) for f in frames][:1])
        return State(fields={n: np.stack([np.asarray(f[n]) for f in frames]) for n in self.units},
                     time=np.asarray(times, dtype=np.float64), coords=self.coords, boundaries=self.boundaries,
                     constant_fields=self.constant_fields, parameters=self.parameters,
                     units={**self.units, **self.constant_units, **self.coord_units})

    def frame(self, state: State, index: int = -1) -> dict[str, np.ndarray]:
        """One frame of a State (as the surrogate returns it: the solver's units) as ``{field: array}``."""
        return {n: np.array(state.fields[n][index]) for n in self.units}
