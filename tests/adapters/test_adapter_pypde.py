"""py-pde: WalrusHybridSolver under pde.Controller with trackers, and its configuration errors."""

import numpy as np
import pde
import pytest

from walrus.errors import BoundaryError, FieldError, UnitError
from walrus_adapters import DriftGuard, HybridPolicy, SOLVER, SURROGATE, WalrusHybridSolver


def diffusion(res=16, periodic=True):
    grid = pde.CartesianGrid([[0.0, 1.0], [0.0, 1.0]], [res, res], periodic=periodic)
    state = pde.ScalarField.random_normal(grid, mean=1.0, std=0.2, rng=np.random.default_rng(0)).smooth(0.05)
    return pde.DiffusionPDE(diffusivity=0.005), state


def test_controller_with_trackers_runs_the_hybrid(surrogate):
    eq, state = diffusion()
    solver = WalrusHybridSolver(eq, surrogate, fields=["concentration"], units={"concentration": "1"},
                                inner_dt=0.01, policy=HybridPolicy(k=1, m=2),
                                guard=DriftGuard(conserved={"concentration": 1e-2}))
    storage, seen = pde.MemoryStorage(), []
    tracker = pde.CallbackTracker(lambda field, t: seen.append((t, field.integral)), interrupts=0.1)
    final = pde.Controller(solver, t_range=1.0, tracker=[storage.tracker(0.1), tracker]).run(state, dt=0.1)
    kinds = [r.kind for r in solver.hybrid.records]
    assert kinds == [SOLVER] * 5 + [SURROGATE, SOLVER, SOLVER, SURROGATE, SOLVER]
    assert len(storage) == 11 and len(seen) == 11
    assert [t for t, _ in seen] == pytest.approx(np.arange(11) * 0.1)
    np.testing.assert_allclose(final.data, solver.hybrid.frame()["concentration"])
    np.testing.assert_allclose(storage[-1].data, final.data)
    # the inner py-pde solver conserves mass; the guarded surrogate steps stay within 1 %
    assert final.integral == pytest.approx(state.integral, rel=2e-2)


def test_solver_steps_equal_a_plain_py_pde_run(surrogate):
    eq, state = diffusion()
    solver = WalrusHybridSolver(eq, surrogate, fields="concentration", units={"concentration": "1"},
                                inner_dt=0.01, policy=HybridPolicy(k=1, m=1))
    hybrid = pde.Controller(solver, t_range=0.3, tracker=None).run(state, dt=0.1)  # all warm-up
    plain = eq.solve(state, t_range=0.3, dt=0.01, solver="runge-kutta", adaptive=False, backend="numpy", tracker=None)
    np.testing.assert_allclose(hybrid.data, plain.data, rtol=1e-12)


def test_vector_fields_map_components_last(surrogate):
    grid = pde.CartesianGrid([[0.0, 1.0], [0.0, 1.0]], [16, 16], periodic=True)
    v = pde.VectorField.random_normal(grid, rng=np.random.default_rng(1)).smooth(0.1)
    c = pde.FieldCollection([pde.ScalarField(grid, 1.0), v])
    solver = WalrusHybridSolver(pde.PDE({"a": "laplace(a)", "u": "vector_laplace(u)"}), surrogate,
                                fields=["pressure", "velocity"], units={"pressure": "Pa", "velocity": "m s-1"})
    from walrus_adapters.pypde import PyPDECoupling

    coupling = PyPDECoupling(c, solver.fields, solver._inner_solver(), 0.01)
    frame = coupling.read()
    v_y = np.array(c.data[2])  # the collection holds (pressure, velocity_x, velocity_y) as rows
    assert frame["velocity"].shape == (16, 16, 2)
    np.testing.assert_array_equal(frame["velocity"][..., 1], v_y)
    coupling.write({"pressure": frame["pressure"] + 1.0, "velocity": 2 * frame["velocity"]}, 0.0)
    np.testing.assert_array_equal(c.data[2], 2 * v_y)
    np.testing.assert_array_equal(c.data[0], frame["pressure"] + 1.0)
    assert solver.layout(c).ranks == {"pressure": 0, "velocity": 1}


def test_configuration_errors_are_clear(surrogate):
    eq, state = diffusion()
    make = lambda st=state, **kw: WalrusHybridSolver(eq, surrogate, **{"fields": ["concentration"],  # noqa: E731
                                                                        "units": {"concentration": "1"}, **kw}).layout(st)
    with pytest.raises(FieldError, match="concentraton: unknown field"):
        make(fields=["concentraton"], units={"concentraton": "1"})
    with pytest.raises(UnitError, match="concentration: no units declared"):
        make(units={})
    with pytest.raises(FieldError, match="velocity: tensor rank differs from the py-pde field's"):
        make(fields=["velocity"], units={"velocity": "m s-1"})
    with pytest.raises(FieldError, match="fields must name every sub-field"):
        make(fields=["concentration", "tracer"], units={"concentration": "1", "tracer": "1"})
    with pytest.raises(BoundaryError, match="axis 'x': declared boundary differs from the py-pde solver's.*"
                                            "expected PERIODIC/PERIODIC, received WALL/WALL"):
        make(boundaries={"x": "WALL"})
    with pytest.raises(BoundaryError, match="axis 'z': py-pde has no such axis"):
        make(boundaries={"z": "WALL"})
    _, walled = diffusion(periodic=False)
    assert make(walled).boundaries == {"x": (0, 0), "y": (0, 0)}  # DiffusionPDE's default bc: neumann, no flux
    with pytest.raises(BoundaryError, match="axis 'y': declared boundary differs from the py-pde solver's.*"
                                            "expected WALL/WALL, received OPEN/OPEN"):
        make(walled, boundaries={"x": "WALL", "y": "OPEN"})
    assert make(walled, boundaries={"x": "WALL"}).boundaries == {"x": (0, 0), "y": (0, 0)}
    per_variable = lambda bc: WalrusHybridSolver(pde.PDE({"c": "laplace(c)"}, bc=bc), surrogate,  # noqa: E731
                                                 fields=["concentration"], units={"concentration": "1"}).layout(walled)
    assert per_variable({"c": "dirichlet", "*": {"mixed": 1.0}}).boundaries == {"x": (0, 0), "y": (0, 0)}
    with pytest.raises(BoundaryError, match="axis 'x' low side: unknown py-pde boundary condition; .*received 'mixed'"):
        per_variable({"c": {"mixed": 1.0}, "*": "dirichlet"})  # the variable's own conditions count

    class NoBC(pde.PDEBase):  # a hand-written PDE: its conditions live in evolution_rate, out of sight
        def evolution_rate(self, state, t=0):
            return state.laplace("auto_periodic_neumann")

    no_bc = lambda **kw: WalrusHybridSolver(NoBC(), surrogate, fields=["concentration"],  # noqa: E731
                                            units={"concentration": "1"}, **kw).layout(walled)
    with pytest.raises(BoundaryError, match="axis 'x': py-pde does not say which boundary"):
        no_bc()
    assert no_bc(boundaries={"x": "WALL", "y": "OPEN"}).boundaries == {"x": (0, 0), "y": (1, 1)}
    with pytest.raises(ValueError, match="backend"):
        WalrusHybridSolver(eq, surrogate, fields=["concentration"], units={"concentration": "1"}, backend="numba")
