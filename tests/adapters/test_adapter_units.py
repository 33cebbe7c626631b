"""Units at the boundary: a solver in km s-1 and the same solver in m s-1 give the same trajectory."""

import runpy
from pathlib import Path

import numpy as np
import pytest

from walrus.errors import UnitError
from walrus.surrogate import Surrogate
from walrus_adapters import SURROGATE

EXAMPLE = Path(__file__).parents[2] / "examples" / "adapter_scipy.py"


def test_km_per_s_and_m_per_s_solvers_agree_after_conversion(tiny_model):
    main = runpy.run_path(str(EXAMPLE))["main"]
    runs = {u: main(res=16, steps=8, velocity_units=u, surrogate=Surrogate(tiny_model, seed=0))
            for u in ("m s-1", "km s-1")}
    a, b = runs["m s-1"], runs["km s-1"]
    assert [r.kind for r in a.records] == [r.kind for r in b.records]
    assert [r.kind for r in a.records].count(SURROGATE) == 2
    assert b.window().units["velocity"] == "km s-1"  # the solver's units are what the adapter keeps
    for fa, fb in zip(a._frames, b._frames):
        np.testing.assert_allclose(fb["pressure"], fa["pressure"], rtol=1e-5, atol=1e-6 * np.abs(fa["pressure"]).max())
        np.testing.assert_allclose(fb["velocity"] * 1000.0, fa["velocity"], rtol=1e-5,
                                   atol=1e-6 * np.abs(fa["velocity"]).max())
    # the surrogate frames moved: this is not two persistence runs that agree trivially
    assert not np.allclose(a._frames[-1]["pressure"], a._frames[-2]["pressure"])


def test_units_of_the_wrong_dimension_are_refused(tiny_model):
    main = runpy.run_path(str(EXAMPLE))["main"]
    from walrus_adapters import ScipyIVPHybrid

    with pytest.raises(UnitError, match="velocity: incompatible units"):
        ScipyIVPHybrid(lambda t, y: 0 * y, np.zeros(16 * 16 * 3), Surrogate(tiny_model),
                       fields={"pressure": "Pa", "velocity": "Pa"}, coords={"x": np.arange(16.0), "y": np.arange(16.0)},
                       boundaries={"x": "PERIODIC", "y": "PERIODIC"}, dt=0.1).start()
    assert callable(main)


def test_shallow_water_runs_in_the_si_units_it_is_labelled_with(surrogate):
    """g = 9.81 m s-2 and metres: a small wave's crest moves at sqrt(g h) = 3.13 m/s (it would be 1 in g = 1 units)."""
    from walrus.data.generators import shallow_water as sw
    from walrus.plugins import get_registry
    from walrus_adapters.pyclaw import PyClawHybrid

    solver, solution = sw.make_solver(128, lambda x, y: 1.0 + 0.01 * np.exp(-((x - 5.0) ** 2 + (y - 5.0) ** 2) / 0.1))
    x = solution.domain.grid.x.centers
    crest = []
    for t in (0.5, 1.0):
        solver.evolve_to_time(solution, t)
        row = solution.state.q[0][:, 64]
        crest.append(x[np.argmax(np.where(x > 5.2, row, -np.inf))])
    assert (crest[1] - crest[0]) / 0.5 == pytest.approx(np.sqrt(9.81 * 1.0), rel=0.1)

    # the dataset is labelled with these units, and the adapter run states the same ones
    reg = get_registry()
    assert {f: reg.field(f).units for f in sw.UNITS} == sw.UNITS
    assert sw.COORD_UNITS == {"x": "m", "y": "m", "time": "s"}
    hybrid = PyClawHybrid(*sw.make_solver(16, sw.one_mound), surrogate, physics="shallow_water", units=sw.UNITS,
                          coord_units=sw.COORD_UNITS, dt=sw.DT_OUT)
    hybrid.run(1)
    assert {k: hybrid.window().units[k] for k in (*sw.UNITS, *sw.COORD_UNITS)} == {**sw.UNITS, **sw.COORD_UNITS}
