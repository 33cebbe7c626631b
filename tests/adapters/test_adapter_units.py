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
