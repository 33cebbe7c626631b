"""Bad configuration fails at set-up with errors that name the field, what was expected and what was received."""

import numpy as np
import pytest

from adapter_helpers import DT, UNITS, shallow_water
from walrus.errors import BoundaryError, ConfigError, FieldError, UnitError
from walrus_adapters import HybridPolicy
from walrus_adapters.pyclaw import PyClawHybrid
from walrus_adapters.scipy_ivp import ScipyIVPHybrid

GRID = {"x": np.arange(8.0), "y": np.arange(8.0)}
PERIODIC = {"x": "PERIODIC", "y": "PERIODIC"}


def pyclaw(surrogate, **kw):
    solver, solution = shallow_water(16, bc=kw.pop("bc", "wall"))
    options = dict(physics="shallow_water", units=UNITS, dt=DT)
    options.update(kw)
    return PyClawHybrid(solver, solution, surrogate, **options)


def test_pyclaw_configuration_errors(surrogate):
    with pytest.raises(BoundaryError, match="axis 'x': declared boundary differs from the PyClaw solver's; "
                                            "expected WALL/WALL, received PERIODIC/PERIODIC"):
        pyclaw(surrogate, boundaries={"x": "PERIODIC"})
    with pytest.raises(BoundaryError, match="axis 'z': PyClaw has no such axis"):
        pyclaw(surrogate, boundaries={"z": "WALL"})
    with pytest.raises(BoundaryError, match="axis 'x' low side: unknown PyClaw boundary condition; .*received 'custom'"):
        pyclaw(surrogate, bc="custom")
    assert pyclaw(surrogate, bc="custom", boundaries={"x": "WALL", "y": "OPEN"}).layout.boundaries == {"x": (0, 0),
                                                                                                      "y": (1, 1)}
    with pytest.raises(BoundaryError, match="bc: unknown PyClaw boundary condition; .*received 'walls'"):
        pyclaw(surrogate, bc="walls")
    assert pyclaw(surrogate, bc="extrap").layout.boundaries == {"x": (1, 1), "y": (1, 1)}
    assert pyclaw(surrogate, bc="periodic", boundaries={"y": "PERIODIC"}).layout.boundaries["y"] == (2, 2)
    with pytest.raises(FieldError, match="physics: unknown PyClaw physics"):
        pyclaw(surrogate, physics="shalow_water")
    with pytest.raises(UnitError, match="velocity: no units declared"):
        pyclaw(surrogate, units={"height": "m"})
    with pytest.raises(FieldError, match="pressure: units given for a field the solver does not hand over"):
        pyclaw(surrogate, units={**UNITS, "pressure": "Pa"})
    with pytest.raises(UnitError, match="height: incompatible units"):
        pyclaw(surrogate, units={"height": "s", "velocity": "m s-1"}).run(1)
    with pytest.raises(ConfigError, match=r"dt: expected a finite number in \(0, inf\) \(the positive output interval"):
        pyclaw(surrogate, dt=0.0)
    with pytest.raises(ValueError, match="HybridPolicy.k"):
        pyclaw(surrogate, policy=HybridPolicy(k=0))


def test_scipy_configuration_errors(surrogate):
    rhs = lambda t, y: 0 * y  # noqa: E731
    with pytest.raises(FieldError, match="hieght: unknown field"):
        ScipyIVPHybrid(rhs, np.zeros(64), surrogate, fields={"hieght": "m"}, coords=GRID, boundaries=PERIODIC, dt=1.0)
    with pytest.raises(BoundaryError, match="axis 'y': solve_ivp does not say which boundary condition"):
        ScipyIVPHybrid(rhs, np.zeros(64), surrogate, fields={"height": "m"}, coords=GRID,
                       boundaries={"x": "PERIODIC"}, dt=1.0)
    with pytest.raises(BoundaryError, match="unknown boundary condition"):
        ScipyIVPHybrid(rhs, np.zeros(64), surrogate, fields={"height": "m"}, coords=GRID,
                       boundaries={"x": "PERIODIC", "y": "REFLECTING"}, dt=1.0)
    with pytest.raises(Exception, match=r"y: state vector does not fit the fields; expected shape \(192,\)"):
        ScipyIVPHybrid(rhs, np.zeros(64), surrogate, fields={"velocity": "m s-1", "height": "m"}, coords=GRID,
                       boundaries=PERIODIC, dt=1.0)


def test_missing_history_never_reaches_the_model(surrogate):
    """A policy that skips warm-up cannot call the surrogate on a short window: it falls back and says so."""
    hybrid = pyclaw(surrogate, policy=HybridPolicy(k=1, m=0, warmup=0))
    record = hybrid.step()
    assert record.kind == "solver" and record.reason == "fallback: history has 1 of the 6 frames the surrogate needs"
