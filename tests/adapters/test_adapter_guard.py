"""Drift guard: a NaN, a conservation breach or an out-of-bounds frame makes that step a solver step."""

import dataclasses

import numpy as np
import pytest

from adapter_helpers import DT, UNITS, shallow_water, solver_only_heights
from walrus.errors import ConfigError, FieldError
from walrus_adapters import DriftGuard, HybridPolicy, SOLVER, SURROGATE
from walrus_adapters.pyclaw import PyClawHybrid


class Tampered:
    """A real surrogate whose predicted frame is altered before the adapter sees it."""

    def __init__(self, surrogate, change):
        self.surrogate, self.change = surrogate, change

    def history_for(self, state):
        return self.surrogate.history_for(state)

    def observe(self, state):
        self.surrogate.observe(state)

    def step(self, state):
        new = self.surrogate.step(state)
        fields = dict(new.fields)
        fields["height"] = fields["height"].copy()
        fields["height"][-1] = self.change(fields["height"][-1])
        return dataclasses.replace(new, fields=fields)


def run(surrogate, guard, steps=8, k=1, m=1):
    solver, solution = shallow_water(16)
    hybrid = PyClawHybrid(solver, solution, surrogate, physics="shallow_water", units=UNITS, dt=DT,
                          policy=HybridPolicy(k=k, m=m), guard=guard)
    hybrid.run(steps)
    return hybrid, solution


def test_doubled_mass_falls_back_to_the_solver_and_says_why(surrogate):
    hybrid, solution = run(Tampered(surrogate, lambda h: 2.0 * h), DriftGuard(conserved={"height": 1e-3}))
    fallbacks = [r for r in hybrid.records if r.fell_back]
    assert [r.index for r in fallbacks] == [5, 7]  # every surrogate slot of the k=1/m=1 cycle
    for r in fallbacks:
        assert r.kind == SOLVER and r.planned == SURROGATE
        assert r.reason.startswith("fallback: total height changed by 1 relative")
    # every step was in fact a solver step: the run equals PyClaw alone
    np.testing.assert_allclose(solution.state.q[0], solver_only_heights(16, 8)[-1], rtol=1e-12)
    assert hybrid.summary()["fallbacks"] == 2


def test_nan_from_the_network_falls_back(surrogate):
    handle = surrogate.model.register_forward_hook(lambda module, inputs, output: output * float("nan"))
    try:
        hybrid, solution = run(surrogate, DriftGuard(), steps=6)
    finally:
        handle.remove()
    last = hybrid.records[-1]
    assert last.planned == SURROGATE and last.kind == SOLVER
    assert "non-finite" in last.reason
    assert np.isfinite(solution.state.q).all()


def test_nan_in_a_returned_frame_falls_back(surrogate):
    def poke(h):
        h = h.copy()
        h[3, 4] = np.nan
        return h

    # State refuses NaN on construction, so put it in after: the guard's own check must catch it
    class Poked(Tampered):
        def step(self, state):
            new = self.surrogate.step(state)
            new.fields["height"][-1, 3, 4] = np.nan
            return new

    hybrid, _ = run(Poked(surrogate, poke), DriftGuard(), steps=6)
    assert hybrid.records[-1].reason == "fallback: non-finite values in 'height' (1 NaN, 0 inf of 256)"


def test_out_of_bounds_falls_back_and_good_frames_pass(surrogate):
    hybrid, _ = run(Tampered(surrogate, lambda h: h - 10.0), DriftGuard(bounds={"height": (0.0, None)}), steps=6)
    assert "fallback: 'height' below its lower bound 0" in hybrid.records[-1].reason
    ok, _ = run(surrogate, DriftGuard(bounds={"height": (0.0, None)}, conserved={"height": 0.5}), steps=6)
    assert ok.records[-1].kind == SURROGATE


def test_initial_reference_catches_slow_drift():
    guard = DriftGuard(conserved={"height": 0.01}, reference="initial")
    initial = {"height": np.ones((4, 4))}
    assert guard.check({"height": np.full((4, 4), 1.005)}, initial) is None
    assert "total height changed by 0.02" in guard.check({"height": np.full((4, 4), 1.02)}, initial)


def test_invariants_are_checked():
    guard = DriftGuard(invariants={"energy": (lambda f: float((f["height"] ** 2).sum()), 1e-3)})
    assert guard.check({"height": np.ones(3)}, {"height": np.ones(3)}) is None
    assert guard.check({"height": 2 * np.ones(3)}, {"height": np.ones(3)}).startswith("energy changed by 3")


def test_bad_guards_are_refused(surrogate):
    with pytest.raises(FieldError, match="density: DriftGuard conserved names a field the solver does not provide"):
        run(surrogate, DriftGuard(conserved={"density": 1e-3}), steps=0)
    with pytest.raises(FieldError, match="velocity: conservation is checked on totals of scalar fields"):
        run(surrogate, DriftGuard(conserved={"velocity": 1e-3}), steps=0)
    with pytest.raises(ConfigError, match=r"DriftGuard.conserved\['height'\]: expected a finite number in \[0, inf\) "
                                          r"\(relative tolerance of the total\), received -1.0"):
        DriftGuard(conserved={"height": -1.0})
    with pytest.raises(ConfigError, match=r"DriftGuard.bounds\['height'\]: low is above high; expected low <= high, "
                                          r"received \(2, 1\)"):
        DriftGuard(bounds={"height": (2, 1)})
    with pytest.raises(ConfigError, match="DriftGuard.reference: expected 'previous' or 'initial', received 'last'"):
        DriftGuard(reference="last")
