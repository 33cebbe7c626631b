"""Fuzz the solver adapters' configuration: HybridPolicy, DriftGuard and the scipy / py-pde adapters
built with fuzzed settings on tiny real set-ups. Every outcome is a working adapter or a WalrusError
naming the argument; valid ones run one step (warm-up or a guarded surrogate slot) and stay finite."""

from __future__ import annotations

import math

import numpy as np
import pde
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import walrus
from fuzz_helpers import assert_contract, examples
from walrus.surrogate import Surrogate
from walrus_adapters import SOLVER, DriftGuard, HybridPolicy, WalrusHybridSolver
from walrus_adapters.scipy_ivp import ScipyIVPHybrid

NASTY = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 8), st.sampled_from([10 ** 12, 2 ** 70, -(2 ** 70)]),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=6), st.lists(st.integers(-1, 3), max_size=3),
    st.just(np.float32(0.5)), st.just(np.int64(2)), st.just(object()), st.just(np.array([1.0, 2.0])),
)
NUMBER = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 5), st.none(), st.booleans(),
                   st.text(max_size=3))


@pytest.fixture(scope="module")
def surrogate():
    torch.manual_seed(0)
    return Surrogate(walrus.get_model("walrus-tiny").eval(), seed=0)


# ---------------------------------------------------------------- policy and guard


@settings(max_examples=examples(ci=25))
@given(k=NASTY, m=NASTY, warmup=NASTY)
def test_fuzz_hybrid_policy(k, m, warmup):
    outcome = assert_contract(lambda: HybridPolicy(k=k, m=m, warmup=warmup), finite=False)
    if outcome.ok:
        policy = outcome.value
        assert isinstance(k, (int, np.integer)) and not isinstance(k, bool) and k >= 1
        assert isinstance(m, (int, np.integer)) and not isinstance(m, bool) and m >= 0
        kinds = [policy.planned(i, 2)[0] for i in range(2 + 2 * (k + m))]
        assert kinds.count("surrogate") == 2 * k
    else:
        assert outcome.error.field in ("HybridPolicy.k", "HybridPolicy.m", "HybridPolicy.warmup")


GUARD_FIELDS = st.sampled_from(["concentration", "velocity", "nonsense", ""])


@settings(max_examples=examples(ci=30))
@given(conserved=st.one_of(st.dictionaries(GUARD_FIELDS, NUMBER, max_size=2), NASTY),
       bounds=st.one_of(st.dictionaries(GUARD_FIELDS, st.one_of(st.tuples(NUMBER, NUMBER), NASTY), max_size=2), NASTY),
       reference=st.one_of(st.sampled_from(["previous", "initial"]), NASTY), atol=st.one_of(NUMBER, st.just(1e-12)))
def test_fuzz_drift_guard(conserved, bounds, reference, atol):
    def build():
        guard = DriftGuard(conserved=conserved, bounds=bounds, reference=reference, atol=atol)
        guard.validate({"concentration": 0, "velocity": 1})
        return guard

    outcome = assert_contract(build, finite=False)
    if outcome.refused:
        assert outcome.error.field, str(outcome.error)
        return
    guard = outcome.value
    for rtol in guard.conserved.values():
        assert math.isfinite(rtol) and rtol >= 0
    for lo, hi in guard.bounds.values():
        assert not (lo is not None and math.isnan(lo)) and not (hi is not None and math.isnan(hi))
    # a valid guard judges frames: NaN always rejected, the reference itself always accepted where in bounds
    frame = {"concentration": np.full((4, 4), 0.5), "velocity": np.zeros((4, 4, 2))}
    assert "non-finite" in guard.check({**frame, "concentration": np.full((4, 4), np.nan)}, frame)
    in_bounds = all((lo is None or lo <= 0.5 and lo <= 0.0) and (hi is None or hi >= 0.5 and hi >= 0.0)
                    for name, (lo, hi) in guard.bounds.items())
    if in_bounds:
        assert guard.check(frame, frame) is None


# ---------------------------------------------------------------- scipy solve_ivp adapter

GRID = np.arange(8.0)


def diffusion(t, y):
    u = y.reshape(8, 8)
    return 0.01 * (np.roll(u, 1, 0) + np.roll(u, -1, 0) + np.roll(u, 1, 1) + np.roll(u, -1, 1) - 4 * u).ravel()


Y0 = 1.0 + 0.1 * np.sin(np.arange(64.0))


def _long_solve(dt) -> bool:
    """A dt the adapter accepts whose solve would take minutes: a real number above 100."""
    try:
        return not isinstance(dt, (bool, str)) and np.ndim(dt) == 0 and float(dt) > 100 and np.isfinite(float(dt))
    except (TypeError, ValueError):
        return False


def _many_steps(inner_dt) -> bool:
    """An inner step the adapter accepts that needs over 50 solver steps per 0.05 outer step."""
    try:
        return (not isinstance(inner_dt, (bool, str)) and np.ndim(inner_dt) == 0
                and 0 < float(inner_dt) < 1e-3)
    except (TypeError, ValueError):
        return False

SCIPY_OPTIONS = st.fixed_dictionaries({}, optional={
    "fields": st.one_of(st.just({"concentration": "1"}), st.just({"concentration": "m"}), st.just({"velocity": "m s-1"}),
                        st.just({"nonsense": "1"}), st.just({"concentration": "not a unit"}), st.just({}),
                        st.just({"concentration": 3}), NASTY),
    "coords": st.one_of(st.just({"x": GRID, "y": GRID}), st.just({"x": GRID}), st.just({"x": GRID[::-1], "y": GRID}),
                        st.just({"x": np.full(8, np.nan), "y": GRID}), st.just({}), st.just({"x": "abc", "y": GRID}),
                        NASTY),
    "boundaries": st.one_of(st.just({"x": "PERIODIC", "y": "PERIODIC"}), st.just({"x": "WALL", "y": ("OPEN", "WALL")}),
                            st.just({"x": "PERIODIC"}), st.just({"x": "STICKY", "y": "WALL"}),
                            st.just({"x": 7, "y": 1}), st.just({"z": "WALL", "x": "WALL", "y": "WALL"}), NASTY),
    # a valid but huge dt is no contract question, only a long solve (explicit RK over 1e12 time units)
    "dt": st.one_of(st.sampled_from([0.1, 1.0]), NASTY.filter(lambda v: not _long_solve(v))),
    "t0": st.one_of(st.just(0.0), NASTY),
    "method": st.one_of(st.sampled_from(["RK45", "RK23", "rk45", "Euler"]), NASTY),
    "policy": st.one_of(st.builds(HybridPolicy, k=st.integers(1, 3), m=st.integers(0, 2),
                                  warmup=st.one_of(st.none(), st.integers(0, 1))), NASTY),
    "guard": st.one_of(st.just(DriftGuard(conserved={"concentration": 1e-2})), st.just(DriftGuard(conserved={"velocity": 1.0})),
                       NASTY),
    "rtol": st.one_of(st.just(1e-6), NASTY),
    "max_stp": NASTY,
})


@settings(max_examples=examples(ci=30))
@given(options=SCIPY_OPTIONS, y0=st.one_of(st.just(Y0), st.just(np.full(64, np.nan)), st.just(np.zeros(3)), NASTY))
def test_fuzz_scipy_ivp_hybrid(surrogate, options, y0):
    kwargs = dict(fields={"concentration": "1"}, coords={"x": GRID, "y": GRID},
                  boundaries={"x": "PERIODIC", "y": "PERIODIC"}, dt=0.1)
    kwargs.update(options)

    def build_and_step():
        hybrid = ScipyIVPHybrid(diffusion, y0, surrogate, **kwargs)
        record = hybrid.step()  # a warm-up solver step, or a guarded surrogate slot that falls back
        return hybrid, record

    outcome = assert_contract(build_and_step, finite=False)
    if outcome.refused:
        assert outcome.error.field, str(outcome.error)
        return
    hybrid, record = outcome.value
    assert record.kind == SOLVER and np.isfinite(hybrid.y).all() and hybrid.y.shape == (64,)
    assert hybrid.time == pytest.approx(float(kwargs.get("t0", 0.0) or 0.0) + hybrid.dt)


# ---------------------------------------------------------------- py-pde adapter

PDE_GRID = pde.CartesianGrid([[0.0, 1.0], [0.0, 1.0]], [8, 8], periodic=True)
PDE_STATE = pde.ScalarField(PDE_GRID, 1.0 + 0.1 * np.sin(np.arange(64.0)).reshape(8, 8))

PYPDE_OPTIONS = st.fixed_dictionaries({}, optional={
    "fields": st.one_of(st.just(["concentration"]), st.just("concentration"), st.just(["velocity"]),
                        st.just(["concentration", "concentration"]), st.just([]), NASTY),
    "units": st.one_of(st.just({"concentration": "1"}), st.just({"concentration": "kg"}), st.just({}), NASTY),
    "inner": st.one_of(st.sampled_from(["runge-kutta", "euler", "explicit", "walrus_hybrid", "rk4"]), NASTY),
    # a valid but tiny inner step is no contract question either, only 0.05 / inner_dt solver steps
    "inner_dt": st.one_of(st.sampled_from([0.01, 0.05]), NASTY.filter(lambda v: not _many_steps(v))),
    "policy": st.one_of(st.just(HybridPolicy(k=1, m=1)), NASTY),
    "boundaries": st.one_of(st.just({"x": "PERIODIC"}), st.just({"x": "WALL"}), st.just({"q": "WALL"}), NASTY),
    "backend": st.one_of(st.just("numpy"), NASTY),
})


@settings(max_examples=examples(ci=25))
@given(options=PYPDE_OPTIONS, equation=st.sampled_from(["diffusion", "not a pde"]))
def test_fuzz_pypde_hybrid_solver(surrogate, options, equation):
    kwargs = dict(fields=["concentration"], units={"concentration": "1"}, inner_dt=0.01)
    kwargs.update(options)
    eq = pde.DiffusionPDE(diffusivity=0.01) if equation == "diffusion" else object()

    def build_and_step():
        solver = WalrusHybridSolver(eq, surrogate, **kwargs)
        state = PDE_STATE.copy()
        step = solver.make_stepper(state, dt=0.05)
        t = step(state, 0.0, 0.05)
        return solver, state, t

    outcome = assert_contract(build_and_step, finite=False)
    if outcome.refused:
        assert outcome.error.field, str(outcome.error)
        return
    solver, state, t = outcome.value
    assert np.isfinite(state.data).all() and t == pytest.approx(0.05)
    assert solver.hybrid.records[0].kind == SOLVER
