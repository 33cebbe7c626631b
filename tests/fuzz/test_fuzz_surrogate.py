"""Fuzz Surrogate call sequences (observe / step / rollout / ensemble, both modes, mixed units) under the
error contract, and check that mixing units within one rollout's history gives the all-canonical answer."""

from __future__ import annotations

import functools

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import walrus
from fuzz_helpers import assert_contract, examples
from strategies import SUR_TIME_UNITS, VELOCITY_UNITS, make_state, surrogate_ops, trajectory
from walrus.errors import ArgumentError, WalrusError
from walrus.state import State
from walrus.surrogate import Surrogate
from walrus.testing import redraw_weights

SHAPES = [(8, 8), (8, 8), (12, 8), (4, 4, 4)]


@functools.lru_cache(maxsize=None)
def tiny() -> walrus.Walrus:
    torch.manual_seed(0)
    return redraw_weights(walrus.get_model("walrus-tiny"), seed=0).eval()


def _check_state(given: State, n_frames: int):
    def check(out):
        assert isinstance(out, State)
        assert out.n_steps == n_frames and out.spatial_shape == given.spatial_shape
        assert out.units == given.units  # answered in the caller's units
        assert out.time[-1] > given.time[-1]
    return check


@settings(max_examples=examples(ci=50))
@given(st.sampled_from(["exact", "streaming"]), st.sampled_from(SHAPES), surrogate_ops(), st.integers(0, 3))
def test_call_sequences(mode, shape, ops, seed):
    sur = Surrogate(tiny(), mode=mode, seed=seed, dt=0.1)
    traj = trajectory(3 * len(ops) + 1, shape, seed)
    cursor = 0
    for kind, n, vu, tu, arg in ops:
        st_ = make_state(traj, slice(cursor, cursor + n), shape, vel_units=vu, time_units=tu)
        cursor += n
        if kind == "observe":
            assert_contract(lambda: sur.observe(st_), finite=False, expect="ok")
        elif kind == "step":
            # too little history is a WalrusError (HistoryError) too; anything else is a result
            assert_contract(lambda: sur.step(st_), check=_check_state(st_, n))
        elif kind == "rollout":
            valid = isinstance(arg, int) and not isinstance(arg, bool) and arg >= 0

            def run():
                gen = sur.rollout(st_, arg)  # arguments are checked on the call, not on the first next()
                return list(gen)

            out = assert_contract(run)
            if out.ok:
                assert valid and len(out.value) == arg
                for s in out.value:
                    _check_state(st_, n)(s)
            elif not valid:
                assert isinstance(out.error, ArgumentError) and out.error.field == "steps"
        elif kind == "ensemble":
            valid = isinstance(arg, int) and not isinstance(arg, bool) and arg >= 2
            out = assert_contract(lambda: sur.ensemble(st_, members=arg))
            if out.ok:
                assert valid
                mean, spread = out.value
                _check_state(st_, n)(mean)
                assert all((spread.fields[k][-1] >= 0).all() for k in spread.fields)  # the last frame is the spread
            elif not valid:
                assert isinstance(out.error, ArgumentError) and out.error.field == "members"
        else:  # garbage instead of a state
            assert_contract(lambda: sur.step(arg), expect="error")


@settings(max_examples=examples(ci=12))
@given(st.sampled_from(["exact", "streaming"]), st.sampled_from([(8, 8), (4, 4, 4)]),
       st.lists(st.tuples(st.sampled_from(VELOCITY_UNITS), st.sampled_from(SUR_TIME_UNITS)), min_size=2, max_size=5),
       st.integers(0, 3))
def test_mixed_units_in_one_history_equal_canonical(mode, shape, units, seed):
    """observe() frames in m/s (or s), then step() in km/s (or ms): the same prediction as all-canonical."""
    traj = trajectory(len(units), shape, seed)
    mixed, canon = Surrogate(tiny(), mode=mode, seed=seed), Surrogate(tiny(), mode=mode, seed=seed)
    for i, (vu, tu) in enumerate(units[:-1]):
        mixed.observe(make_state(traj, slice(i, i + 1), shape, vel_units=vu, time_units=tu))
        canon.observe(make_state(traj, slice(i, i + 1), shape))
    i = len(units) - 1
    (vu, tu) = units[-1]
    last_mixed = make_state(traj, slice(i, i + 1), shape, vel_units=vu, time_units=tu)
    a = assert_contract(lambda: mixed.step(last_mixed))
    b = assert_contract(lambda: canon.step(make_state(traj, slice(i, i + 1), shape)))
    assert a.ok == b.ok
    if not a.ok:
        assert type(a.error) is type(b.error)  # e.g. both lack history
        return
    got_v = a.value.fields["velocity"][-1] * vu[1]  # back to m/s
    ref_v = b.value.fields["velocity"][-1]
    scale = float(np.abs(ref_v).max())
    # equal up to float32 round-off (the km/s numbers pass through float64 conversions before float32)
    np.testing.assert_allclose(got_v, ref_v, rtol=1e-4, atol=1e-5 * scale)
    np.testing.assert_allclose(a.value.fields["density"][-1], b.value.fields["density"][-1], rtol=1e-4, atol=1e-5)
    assert a.value.time[-1] * tu[1] == np.float64(b.value.time[-1]) or np.isclose(a.value.time[-1] * tu[1],
                                                                                  b.value.time[-1])


@settings(max_examples=examples(ci=10))
@given(st.sampled_from(["exact", "streaming"]), st.sampled_from([1e20, 1e30, 1e39, 1e300, -1e25]),
       st.sampled_from(["density", "velocity"]))
def test_extreme_values_are_refused_not_returned_as_inf(mode, magnitude, name):
    traj = trajectory(6, (8, 8), 0)
    traj[name] = traj[name] * magnitude
    st_ = make_state(traj, slice(0, 6), (8, 8))
    out = assert_contract(lambda: Surrogate(tiny(), mode=mode).step(st_), check=_check_state(st_, 6))
    if out.refused:
        assert isinstance(out.error, WalrusError) and name in str(out.error)
