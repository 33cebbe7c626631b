"""A long hybrid rollout on a real solver stays finite: every surrogate frame the DriftGuard rejects is
recorded with its reason (non-finite values, bounds, conservation) and replaced by a solver step.

The solver is scipy's solve_ivp on a method-of-lines diffusion equation (8x8, periodic), the surrogate
an *untrained* walrus-tiny: its predictions drift, which is the point — the guard must catch them.
Diffusion conserves the total exactly and obeys a maximum principle, so the guard checks the total
against the initial frame (slow drift over many accepted steps counts) and the values against the
initial range.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp

from walrus.surrogate import Surrogate
from walrus_adapters import SOLVER, SURROGATE, DriftGuard, HybridPolicy
from walrus_adapters.scipy_ivp import ScipyIVPHybrid

N, DT, DIFFUSIVITY, RTOL = 8, 0.05, 0.01, 1e-4
X = (np.arange(N) + 0.5) / N


def rhs(t, y):
    u = y.reshape(N, N)
    lap = (np.roll(u, 1, 0) + np.roll(u, -1, 0) + np.roll(u, 1, 1) + np.roll(u, -1, 1) - 4 * u) * N ** 2
    return (DIFFUSIVITY * lap).ravel()


def initial() -> np.ndarray:
    x, y = np.meshgrid(X, X, indexing="ij")
    return (1.0 + 0.5 * np.sin(2 * np.pi * x) * np.cos(2 * np.pi * y)).ravel()


REASONS = {"non-finite": ("fallback: non-finite",),
           "bounds": ("fallback: 'concentration' below its lower bound", "fallback: 'concentration' above its upper bound"),
           "conservation": ("fallback: total concentration changed by",)}


def kind_of(reason: str) -> str:
    for kind, prefixes in REASONS.items():
        if reason.startswith(prefixes):
            return kind
    raise AssertionError(f"a fallback without a recognised reason: {reason!r}")


def long_rollout(surrogate, steps: int, k: int, m: int) -> dict:
    """Run the hybrid ``steps`` intervals; check every state as it comes and return what happened."""
    y0 = initial()
    lo, hi = float(y0.min()), float(y0.max())
    guard = DriftGuard(conserved={"concentration": RTOL}, bounds={"concentration": (lo, hi)}, reference="initial")
    hybrid = ScipyIVPHybrid(rhs, y0, surrogate, fields={"concentration": "1"}, coords={"x": X, "y": X},
                            boundaries={"x": "PERIODIC", "y": "PERIODIC"}, dt=DT, policy=HybridPolicy(k=k, m=m),
                            guard=guard, rtol=1e-8, atol=1e-10)
    solver_calls = {}  # step index -> (state before, state after) of every solve_ivp segment
    advance = hybrid.coupling.advance

    def recording_advance(t, dt):
        before = hybrid.coupling.y.copy()
        advance(t, dt)
        solver_calls[len(hybrid.records)] = (t, before, hybrid.coupling.y.copy())

    hybrid.coupling.advance = recording_advance
    total0 = float(y0.sum())
    start = time.perf_counter()
    for i in range(steps):
        record = hybrid.step()
        y = hybrid.y
        assert np.isfinite(y).all(), f"step {i} ({record.kind}, {record.reason}) left a non-finite state"
        np.testing.assert_array_equal(hybrid.frame()["concentration"].ravel(), y)
        if record.kind == SURROGATE:  # an accepted learned step kept what the guard promises
            assert lo <= y.min() and y.max() <= hi
            assert abs(y.sum() - total0) <= RTOL * abs(total0) + 1e-12
    return dict(hybrid=hybrid, calls=solver_calls, seconds=time.perf_counter() - start, warmup=hybrid.warmup)


def check_records(run: dict, steps: int, k: int, m: int) -> dict:
    hybrid, calls = run["hybrid"], run["calls"]
    records = hybrid.records
    assert len(records) == steps and hybrid.time == pytest.approx(steps * DT)
    # the policy's k/m pattern after warm-up is what was planned, step by step
    policy = HybridPolicy(k=k, m=m)
    assert [r.planned for r in records] == [policy.planned(i, run["warmup"])[0] for i in range(steps)]
    # a solver segment ran exactly for the solver steps: planned ones and fallbacks
    assert sorted(calls) == [r.index for r in records if r.kind == SOLVER]
    fallbacks = [r for r in records if r.fell_back]
    kinds = {}
    for r in fallbacks:
        assert r.kind == SOLVER and r.planned == SURROGATE
        kinds.setdefault(kind_of(r.reason), []).append(r.index)
        # replaced by a real solver step: solve_ivp from the state before gives the state after
        t, before, after = calls[r.index]
        assert t == pytest.approx(r.t_start)
        again = solve_ivp(rhs, (t, t + DT), before, method="RK45", rtol=1e-8, atol=1e-10).y[:, -1]
        np.testing.assert_allclose(after, again, rtol=1e-12, atol=1e-14)
    for r in records:
        if not r.fell_back:
            assert r.reason in ("warm-up", "policy")
    summary = hybrid.summary()
    assert summary["fallbacks"] == len(fallbacks)
    assert summary["surrogate"] + summary["fallbacks"] == sum(r.planned == SURROGATE for r in records)
    assert sum(summary["fallback_reasons"].values()) == len(fallbacks)
    return {kind: len(ix) for kind, ix in kinds.items()}


@pytest.fixture
def untrained_surrogate(tiny_model):
    torch.manual_seed(0)
    return Surrogate(tiny_model, seed=0)


@pytest.mark.parametrize("steps", [pytest.param(1000, marks=pytest.mark.slow, id="1000-steps"),
                                   pytest.param(200, id="200-steps")])
def test_long_hybrid_rollout_stays_finite_and_records_every_fallback(untrained_surrogate, steps, capsys):
    """k=2 surrogate / m=8 solver steps: 1 surrogate attempt in 5 (the 1,000-step run takes ~20-50 s on
    2 busy cores, so it is marked slow; the 200-step run is the default suite's)."""
    k, m = 2, 8
    run = long_rollout(untrained_surrogate, steps, k, m)
    kinds = check_records(run, steps, k, m)
    summary = run["hybrid"].summary()
    # the untrained model drifts: the guard caught it (conservation to 1e-4 of the initial total)
    assert kinds.get("conservation", 0) > 0, kinds
    with capsys.disabled():
        print(f"\n{steps}-step hybrid rollout: {run['seconds']:.1f} s; {summary['surrogate']} surrogate, "
              f"{summary['solver']} solver steps, {summary['fallbacks']} fallbacks by kind {kinds}")


class Sabotage:
    """Turns some of the untrained network's outputs into NaN or into huge values (a forward hook)."""

    def __init__(self):
        self.calls = 0

    def __call__(self, module, inputs, output):
        self.calls += 1
        if self.calls % 3 == 1:
            return output * float("nan")
        if self.calls % 3 == 2:
            return output * 1e4  # far out of the physical range
        return output


def test_rollout_with_nan_and_exploding_outputs_falls_back_with_each_reason(untrained_surrogate):
    steps, k, m = 100, 2, 4
    handle = untrained_surrogate.model.register_forward_hook(Sabotage())
    try:
        run = long_rollout(untrained_surrogate, steps, k, m)
    finally:
        handle.remove()
    kinds = check_records(run, steps, k, m)
    assert kinds.get("non-finite", 0) > 0 and kinds.get("bounds", 0) + kinds.get("conservation", 0) > 0, kinds
    assert np.isfinite(run["hybrid"].y).all()
