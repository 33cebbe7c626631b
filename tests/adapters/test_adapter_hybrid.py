"""The k/m policy: warm-up solver steps fill the history, then k surrogate and m solver steps repeat."""

import numpy as np
import pytest

from adapter_helpers import DT, UNITS, shallow_water
from walrus_adapters import HybridPolicy, SOLVER, SURROGATE
from walrus_adapters.pyclaw import PyClawHybrid


def test_policy_plans_warmup_then_k_surrogate_m_solver():
    policy = HybridPolicy(k=2, m=3)
    kinds = [policy.planned(i, warmup=2)[0] for i in range(12)]
    S, s = SURROGATE, SOLVER
    assert kinds == [s, s, S, S, s, s, s, S, S, s, s, s]
    assert policy.planned(0, 2)[1] == "warm-up" and policy.planned(5, 2)[1] == "policy"
    assert [HybridPolicy(k=1, m=0).planned(i, 0)[0] for i in range(3)] == [S, S, S]


@pytest.mark.parametrize("kwargs, match", [(dict(k=0), "k: expected an integer >= 1"),
                                           (dict(k=-1), "k: expected"),
                                           (dict(k=1.5), "k: expected"),
                                           (dict(m=-1), "m: expected an integer >= 0"),
                                           (dict(warmup=-2), "warmup")])
def test_bad_policy_is_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        HybridPolicy(**kwargs)


def test_pyclaw_hybrid_runs_mixed_steps_in_the_k_m_pattern(surrogate):
    solver, solution = shallow_water(16)
    hybrid = PyClawHybrid(solver, solution, surrogate, physics="shallow_water", units=UNITS, dt=DT,
                          policy=HybridPolicy(k=2, m=1))
    records = hybrid.run(11)
    warmup = surrogate.history_for(hybrid.window()) - 1
    assert warmup == 5 and hybrid.warmup == 5
    assert [r.kind for r in records] == [SOLVER] * 5 + [SURROGATE, SURROGATE, SOLVER] * 2
    assert [r.reason for r in records[:5]] == ["warm-up"] * 5 and {r.reason for r in records[5:]} == {"policy"}
    assert solution.t == pytest.approx(11 * DT)
    assert [r.t_end for r in records] == pytest.approx(DT * np.arange(1, 12))
    assert hybrid.summary() == {"steps": 11, "solver": 7, "surrogate": 4, "fallbacks": 0, "fallback_reasons": {}}
    # the surrogate's frame went into PyClaw's q, in PyClaw's layout (h, hu, hv)
    frame = hybrid.frame()
    np.testing.assert_allclose(solution.state.q[0], frame["height"])
    np.testing.assert_allclose(solution.state.q[1], frame["velocity"][..., 0] * frame["height"], rtol=1e-6, atol=1e-12)
    # and the window holds exactly the history the model needs
    assert hybrid.window().n_steps == 6 and hybrid.window().time[-1] == pytest.approx(11 * DT)


def test_surrogate_steps_change_the_state_and_solver_steps_continue_from_it(surrogate):
    solver, solution = shallow_water(16)
    hybrid = PyClawHybrid(solver, solution, surrogate, physics="shallow_water", units=UNITS, dt=DT,
                          policy=HybridPolicy(k=1, m=1))
    hybrid.run(6)  # 5 warm-up + 1 surrogate
    before = np.array(solution.state.q[0])
    assert hybrid.records[-1].kind == SURROGATE
    hybrid.step()  # a solver step from the surrogate's frame
    assert hybrid.records[-1].kind == SOLVER
    assert not np.allclose(solution.state.q[0], before)
