"""Each adapter example runs, small, with an untrained surrogate."""

import runpy
from pathlib import Path

import numpy as np
import pytest

from walrus_adapters import SOLVER, SURROGATE

EXAMPLES = Path(__file__).parents[2] / "examples"


def example(name):
    return runpy.run_path(str(EXAMPLES / name))["main"]


def test_pyclaw_example(capsys):
    hybrid = example("adapter_pyclaw.py")(res=16, steps=8)
    assert [r.kind for r in hybrid.records] == [SOLVER] * 5 + [SURROGATE, SURROGATE, SOLVER]
    assert "solution.t = 1.067 s" in capsys.readouterr().out


def test_pypde_example(capsys):
    final, storage, solver = example("adapter_pypde.py")(res=16, t_end=0.7)
    assert len(storage) == 8 and np.isfinite(final.data).all()
    assert [r.kind for r in solver.hybrid.records][-2:] == [SURROGATE, SOLVER]
    assert "total concentration" in capsys.readouterr().out


def test_scipy_example(capsys):
    hybrid = example("adapter_scipy.py")(res=16, steps=7)
    assert [r.kind for r in hybrid.records] == [SOLVER] * 5 + [SURROGATE, SOLVER]
    assert hybrid.y.shape == (16 * 16 * 3,) and np.isfinite(hybrid.y).all()
    assert ". . . . . S ." in capsys.readouterr().out


def test_dedalus_example(capsys):
    hybrid = example("adapter_dedalus.py")(res=16, steps=7)
    assert [r.kind for r in hybrid.records] == [SOLVER] * 5 + [SURROGATE, SOLVER]
    assert hybrid.coupling.solver.sim_time == pytest.approx(7 * 0.05)
    # the surrogate's frame at step 6 went into the Dedalus field and the solver continued from it
    assert hybrid.layout.boundaries == {"x": (2, 2), "y": (2, 2)}
    s = hybrid.coupling.fields["tracer"]
    s.change_scales(1)
    np.testing.assert_allclose(s["g"], hybrid.frame()["tracer"])
    assert "t = 0.350" in capsys.readouterr().out
