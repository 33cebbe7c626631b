"""What each numerical code calls a boundary condition, translated through the plugins' declarations.

A plugin's ``BoundarySpec`` names a boundary treatment, says which of the model's kinds it is
(WALL/OPEN/PERIODIC) and how each code spells it::

    BoundarySpec("coast", "WALL", solver_names={"clawpack": "wall"})

Adapters never keep their own table: they read the solver's name for each axis side
(PyClaw's ``bc_lower``/``bc_upper``, py-pde's condition classes, Dedalus's basis types) and ask
:func:`solver_kind`. A plugin that declares a new spelling (say a PyClaw ``custom`` sponge layer
as OPEN) therefore works in every adapter without touching it. Codes, as the keys of
``solver_names``: ``"clawpack"`` (PyClaw), ``"py-pde"``, ``"dedalus"``.
"""

from __future__ import annotations

from walrus.boundaries import BOUNDARY_CODES
from walrus.errors import BoundaryError
from walrus.plugins import PluginConflictError, get_registry

__all__ = ["SOLVERS", "solver_table", "solver_kind", "solver_spelling", "unknown"]

#: The codes adapters translate, and how messages name them.
SOLVERS = {"clawpack": "PyClaw", "py-pde": "py-pde", "dedalus": "Dedalus"}


def solver_table(solver: str) -> dict[str, tuple[str, str]]:
    """``solver``'s spelling -> (kind, registered boundary name), from every registered BoundarySpec.

    Two boundaries may share a spelling only if they are the same kind (PyClaw's ``wall`` is both
    the acoustics plugin's ``reflecting`` and the geoscience plugin's ``coast``); otherwise the
    name would mean two things and the plugins are in conflict.
    """
    reg = get_registry()
    table: dict[str, tuple[str, str]] = {}
    for name, spec in reg.boundaries.items():
        spelling = spec.solver_names.get(solver)
        if spelling is None:
            continue
        if spelling in table and table[spelling][0] != spec.kind:
            other = table[spelling][1]
            raise PluginConflictError(
                f"{SOLVERS.get(solver, solver)} boundary {spelling!r} is {table[spelling][0]} as {other!r} "
                f"(plugin {reg.owner('boundary', other)!r}) but {spec.kind} as {name!r} "
                f"(plugin {reg.owner('boundary', name)!r}); one spelling can only be one kind")
        table.setdefault(spelling, (spec.kind, name))
    return table


def known_names(solver: str) -> str:
    """"'extrap' (OPEN), 'periodic' (PERIODIC), ..." for messages."""
    table = solver_table(solver)
    return ", ".join(f"{s!r} ({table[s][0]})" for s in sorted(table)) or "none"


def solver_kind(solver: str, name: str) -> int | None:
    """The walrus code (WALL=0, OPEN=1, PERIODIC=2) of what ``solver`` calls ``name``; None if no plugin declares it."""
    found = solver_table(solver).get(name)
    return None if found is None else BOUNDARY_CODES[found[0]]


def unknown(solver: str, name: str, *, axis: str, side: str) -> BoundaryError:
    """The error for a solver boundary that no plugin declares and the user did not declare either."""
    label = SOLVERS.get(solver, solver)
    return BoundaryError(
        f"unknown {label} boundary condition", field=f"axis {axis!r} {side} side",
        expected=f"one of the {label} names that plugins declare: {known_names(solver)}",
        received=repr(name),
        hint=f"declare the axis with boundaries={{{axis!r}: 'WALL' | 'OPEN' | 'PERIODIC' | (low, high)}}, or "
             f"give a plugin a BoundarySpec with solver_names={{{solver!r}: {name!r}}}")


def solver_spelling(solver: str, boundary: str) -> str:
    """The reverse: what ``solver`` calls a registered boundary (``"coast"`` -> ``"wall"`` for clawpack).

    The generic treatment of each kind is registered under the kind's lower-case name
    (``"wall"``, ``"open"``, ``"periodic"``), so ``solver_spelling("clawpack", "OPEN")`` is ``"extrap"``.
    """
    reg = get_registry()
    spec = reg.boundaries.get(boundary) or reg.boundaries.get(str(boundary).lower())
    label = SOLVERS.get(solver, solver)
    if spec is None:
        raise BoundaryError("unknown boundary", field="boundary",
                            expected=f"a kind {sorted(BOUNDARY_CODES)} or a registered boundary {sorted(reg.boundaries)}",
                            received=repr(boundary))
    if solver not in spec.solver_names:
        raise BoundaryError(f"no plugin says what {label} calls this boundary", field=f"boundary {spec.name!r}",
                            expected=f"a BoundarySpec with solver_names={{{solver!r}: ...}}",
                            received=f"solver_names {dict(spec.solver_names)}")
    return spec.solver_names[solver]
