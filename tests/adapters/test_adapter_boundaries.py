"""Solver boundary names reach walrus only through the plugins' BoundarySpecs (`walrus_adapters.boundary_names`).

A plugin defined here declares a new treatment with a solver spelling; the adapters then read it
with no change of theirs, and a name that no plugin declares is refused, naming the side.
"""

import numpy as np
import pde
import pytest

import walrus.plugins
from adapter_helpers import DT, UNITS, shallow_water
from walrus.errors import BoundaryError
from walrus.hooks import BoundarySpec, hookimpl
from walrus.plugins import PluginConflictError
from walrus_adapters import SURROGATE, HybridPolicy, WalrusHybridSolver
from walrus_adapters.boundary_names import solver_spelling, solver_table
from walrus_adapters.pyclaw import PyClawHybrid


class Declares:
    """A local plugin that declares the given BoundarySpecs."""

    def __init__(self, *specs):
        self.specs = list(specs)

    @hookimpl
    def walrus_boundaries(self):
        return self.specs


@pytest.fixture
def plugin():
    """register(*specs) -> a registered local plugin; every one is unregistered after the test."""
    names = []

    def register(*specs):
        names.append(walrus.plugins.register(Declares(*specs), name=f"test_boundaries_{len(names)}"))

    yield register
    for name in names:
        walrus.plugins.unregister(name=name)


SPONGE = BoundarySpec("sponge", "OPEN", "an absorbing layer, written as a PyClaw custom BC",
                      solver_names={"clawpack": "custom"})


def sponge_bc(calls):
    """PyClaw custom BC functions: ghost cells copy the edge cell with its momentum halved (absorbing)."""
    def fill(upper):
        def bc(state, dim, t, qbc, auxbc, num_ghost):
            axis = [d.name for d in state.grid.dimensions].index(dim.name)
            q = np.moveaxis(qbc, axis + 1, 1)  # a view with this axis second
            edge = q[:, -num_ghost - 1] if upper else q[:, num_ghost]
            for g in range(num_ghost):
                ghost = q[:, q.shape[1] - 1 - g] if upper else q[:, g]
                ghost[...] = edge
                ghost[1:] *= 0.5
            calls.append((dim.name, upper))
        return bc
    return fill(False), fill(True)


def sponge_solver(calls):
    solver, solution = shallow_water(16, bc=solver_spelling("clawpack", "sponge"))
    solver.user_bc_lower, solver.user_bc_upper = sponge_bc(calls)
    return solver, solution


def test_a_plugin_boundary_works_in_the_pyclaw_adapter_unchanged(plugin, surrogate):
    plugin(SPONGE)
    assert solver_spelling("clawpack", "sponge") == "custom"
    calls = []
    solver, solution = sponge_solver(calls)
    hybrid = PyClawHybrid(solver, solution, surrogate, physics="shallow_water", units=UNITS, dt=DT,
                          policy=HybridPolicy(k=1, m=1))
    assert hybrid.layout.boundaries == {"x": (1, 1), "y": (1, 1)}  # OPEN, from the plugin's declaration
    records = hybrid.run(7)
    assert [r.kind for r in records].count(SURROGATE) >= 1
    assert set(calls) == {("x", False), ("x", True), ("y", False), ("y", True)}  # PyClaw ran the sponge
    assert solution.t == pytest.approx(7 * DT) and np.isfinite(solution.state.q).all()
    # a declaration that contradicts the plugin's kind is refused
    with pytest.raises(BoundaryError, match="axis 'y': declared boundary differs from the PyClaw solver's; "
                                            "expected OPEN/OPEN, received WALL/WALL"):
        PyClawHybrid(*sponge_solver([]), surrogate, physics="shallow_water", units=UNITS, dt=DT,
                     boundaries={"y": "coast"})


def test_a_solver_name_no_plugin_declares_is_refused_naming_the_side(surrogate):
    solver, solution = shallow_water(16, bc="wall")
    from clawpack.pyclaw import BC

    solver.bc_upper[1] = BC.custom
    with pytest.raises(BoundaryError) as err:
        PyClawHybrid(solver, solution, surrogate, physics="shallow_water", units=UNITS, dt=DT)
    msg = str(err.value)
    assert msg.startswith("axis 'y' high side: unknown PyClaw boundary condition")
    assert "received 'custom'" in msg
    assert "'extrap' (OPEN), 'periodic' (PERIODIC), 'wall' (WALL)" in msg
    # declaring the axis covers a custom BC that no plugin names; it must still be a valid pair
    assert PyClawHybrid(solver, solution, surrogate, physics="shallow_water", units=UNITS, dt=DT,
                        boundaries={"y": ("WALL", "OPEN")}).layout.boundaries == {"x": (0, 0), "y": (0, 1)}


def test_py_pde_conditions_are_read_from_the_pde(plugin, surrogate):
    grid = pde.CartesianGrid([[0.0, 1.0], [0.0, 1.0]], [8, 8], periodic=[True, False])
    state = pde.ScalarField(grid, 1.0)

    def layout(bc, **kw):
        return WalrusHybridSolver(pde.DiffusionPDE(bc=bc), surrogate, fields=["concentration"],
                                  units={"concentration": "1"}, **kw).layout(state).boundaries

    MIXED = {"x": "periodic", "y": {"mixed": 2.0}}
    assert layout("auto_periodic_neumann") == {"x": (2, 2), "y": (0, 0)}
    assert layout({"x": "periodic", "y": ["dirichlet", {"derivative": 0}]}) == {"x": (2, 2), "y": (0, 0)}
    with pytest.raises(BoundaryError, match="axis 'y' low side: unknown py-pde boundary condition; .*"
                                            "'dirichlet' \\(WALL\\), 'neumann' \\(WALL\\), 'periodic' \\(PERIODIC\\), "
                                            "received 'mixed'"):
        layout(MIXED)
    with pytest.raises(BoundaryError, match="axis 'y' high side: unknown py-pde boundary condition; .*received 'derivative'"):
        layout({"x": "periodic", "y": ["neumann", {"derivative": 1.0}]})  # a flux through the side is no wall
    assert layout(MIXED, boundaries={"y": "OPEN"})["y"] == (1, 1)
    plugin(BoundarySpec("radiating", "OPEN", "a Robin condition letting waves out", solver_names={"py-pde": "mixed"}))
    assert layout(MIXED) == {"x": (2, 2), "y": (1, 1)}


def test_reverse_lookup_and_conflicting_spellings(plugin):
    assert solver_spelling("clawpack", "coast") == "wall"
    assert solver_spelling("clawpack", "OPEN") == "extrap"
    assert solver_spelling("py-pde", "PERIODIC") == "periodic"
    assert solver_spelling("dedalus", "periodic") == "Fourier"
    with pytest.raises(BoundaryError, match="boundary 'coast': no plugin says what py-pde calls this boundary"):
        solver_spelling("py-pde", "coast")
    with pytest.raises(BoundaryError, match="boundary: unknown boundary"):
        solver_spelling("clawpack", "lava")
    assert solver_table("clawpack")["wall"][0] == "WALL"
    plugin(BoundarySpec("leaky", "OPEN", solver_names={"clawpack": "wall"}))
    with pytest.raises(PluginConflictError, match="PyClaw boundary 'wall' is WALL as .* but OPEN as 'leaky' "
                                                  "\\(plugin 'test_boundaries_0'\\)"):
        solver_table("clawpack")


def test_declared_boundaries_take_registered_names(surrogate):
    solver, solution = shallow_water(16, bc="extrap")
    hybrid = PyClawHybrid(solver, solution, surrogate, physics="shallow_water", units=UNITS, dt=DT,
                          boundaries={"x": "absorbing", "y": ("open", "OPEN")})
    assert hybrid.layout.boundaries == {"x": (1, 1), "y": (1, 1)}
