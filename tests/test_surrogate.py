"""Surrogate.step inside a solver loop: kinds, units, history, streaming, ensembles, errors."""

import numpy as np
import pytest
import torch

import walrus
from walrus.errors import BoundaryError, FieldError, WalrusError
from walrus.state import State
from walrus.surrogate import HistoryError, Surrogate

from walrus.testing import redraw_weights

GRID = np.linspace(0.0, 1.0, 32, endpoint=False)


def make_state(n_steps=6, velocity_units="m s-1", scale=1.0, seed=0):
    rng = np.random.default_rng(seed)
    fields = {"density": 1 + 0.1 * rng.random((n_steps, 32, 32)),
              "velocity": scale * rng.standard_normal((n_steps, 32, 32, 2))}
    return State(fields=fields, time=np.arange(n_steps) * 0.1, coords={"x": GRID, "y": GRID},
                 boundaries={"x": "PERIODIC", "y": "WALL"}, units={"velocity": velocity_units, "density": "kg m-3"})


def surrogate(**kw) -> Surrogate:
    torch.manual_seed(0)
    return Surrogate(redraw_weights(walrus.get_model("walrus-tiny")), **kw)


def test_state_xarray_and_dict_give_identical_numbers():
    st = make_state()
    a = surrogate().step(st)
    b = surrogate().step(st.to_dataset())
    c = surrogate().step({"fields": st.fields, "time": st.time, "coords": st.coords, "boundaries": st.boundaries,
                          "units": st.units})
    assert isinstance(a, State) and isinstance(c, dict)
    for name in st.fields:
        np.testing.assert_array_equal(a.fields[name], b[name].transpose("time", ...).values)
        np.testing.assert_array_equal(a.fields[name], c["fields"][name])
    assert a.time[-1] == pytest.approx(0.6) and a.n_steps == 6
    assert not np.array_equal(a.fields["density"][-1], st.fields["density"][-1])


def test_units_are_converted_at_the_boundary():
    in_ms = make_state(velocity_units="m s-1", scale=1000.0)
    in_kms = make_state(velocity_units="km s-1", scale=1.0)
    a, b = surrogate().step(in_ms), surrogate().step(in_kms)
    np.testing.assert_allclose(b.fields["velocity"][-1] * 1000.0, a.fields["velocity"][-1], rtol=1e-5, atol=1e-3)
    assert b.units["velocity"] == in_kms.units["velocity"]


def test_rollout_yields_the_requested_steps():
    states = list(surrogate().rollout(make_state(), 4))
    assert len(states) == 4
    assert [s.time[-1] for s in states] == pytest.approx([0.6, 0.7, 0.8, 0.9])
    assert all(np.isfinite(s.fields["velocity"]).all() for s in states)


def test_streaming_first_step_equals_exact():
    st = make_state()
    exact, streaming = surrogate(seed=3).step(st), surrogate(seed=3, mode="streaming").step(st)
    for name in st.fields:
        # equal up to float32 round-off only (the two paths sum in different orders; the margin a
        # different CPU's kernels need: rtol 1e-4, atol 1e-5 of values of order 1)
        np.testing.assert_allclose(streaming.fields[name], exact.fields[name], rtol=1e-4, atol=1e-5)


def test_streaming_rollout_reuses_its_cache_and_stays_close():
    st = make_state()
    stream = surrogate(mode="streaming")
    out = list(stream.rollout(st, 3))
    assert stream._stream.stream.frames_seen == 6 + 2  # one full pass over the window, then one frame per step
    assert stream._stream.anchors == 1
    assert np.isfinite(out[-1].fields["density"]).all()


def test_streaming_reanchors_at_its_interval_and_every_step_is_exact_mode():
    st = make_state()
    sur = surrogate(mode="streaming", reanchor=3)
    list(sur.rollout(st, 7))
    assert sur._stream.anchors == 3  # steps 1, 4 and 7 are full passes
    exact = list(surrogate(seed=2).rollout(st, 3))
    every_step = list(surrogate(seed=2, mode="streaming", reanchor=1).rollout(st, 3))
    for e, s in zip(exact, every_step):  # the same draws in the same order: equal up to float32 round-off
        np.testing.assert_allclose(s.fields["velocity"], e.fields["velocity"], rtol=1e-4, atol=1e-5)


def test_history_is_kept_when_the_solver_hands_one_frame_at_a_time():
    full = make_state()
    sur = surrogate()
    for i in range(5):
        sur.observe(State(fields={k: v[i:i + 1] for k, v in full.fields.items()}, time=full.time[i:i + 1],
                          coords=full.coords, boundaries=full.boundaries, units=full.units))
    last = State(fields={k: v[5:] for k, v in full.fields.items()}, time=full.time[5:], coords=full.coords,
                 boundaries=full.boundaries, units=full.units)
    one = sur.step(last)
    assert one.n_steps == 1 and one.time[-1] == pytest.approx(0.6)
    # the same window through the same network: equal up to float32 round-off (values of order 1)
    np.testing.assert_allclose(one.fields["density"][-1], surrogate().step(full).fields["density"][-1],
                               rtol=1e-4, atol=1e-5)


def test_missing_history_is_refused_clearly():
    with pytest.raises(HistoryError, match="needs 6 frames.*has 2"):
        surrogate().step(make_state(n_steps=2))


def test_ensemble_gives_mean_and_spread():
    mean, spread = surrogate().ensemble(make_state(), members=4)
    assert mean.time[-1] == pytest.approx(0.6)
    assert (spread.fields["density"][-1] > 0).any() and (spread.fields["density"][-1] >= 0).all()
    with pytest.raises(WalrusError, match="at least 2"):
        surrogate().ensemble(make_state(), members=1)


def test_bad_input_raises_walrus_errors():
    st = make_state()
    with pytest.raises(FieldError, match="unobtainium"):
        surrogate().step({"fields": {"unobtainium": st.fields["density"]}, "time": st.time, "coords": st.coords,
                          "boundaries": st.boundaries})
    with pytest.raises(BoundaryError):
        surrogate().step({"fields": st.fields, "time": st.time, "coords": st.coords,
                          "boundaries": {"x": "STICKY", "y": "WALL"}})
    with pytest.raises(TypeError, match="State"):
        surrogate().step(np.zeros((6, 32, 32)))


def test_one_frame_in_one_frame_out_keeps_going():
    """A solver loop that hands back only the frame the surrogate returned, step after step."""
    full = make_state()
    sur = surrogate()
    sur.observe(full)
    frame = State(fields={k: v[-1:] for k, v in full.fields.items()}, time=full.time[-1:], coords=full.coords,
                  boundaries=full.boundaries, units=full.units)
    times = []
    for _ in range(3):
        frame = sur.step(frame)
        times.append(frame.time[-1])
    assert times == pytest.approx([0.6, 0.7, 0.8])


def test_a_solver_frame_replaces_a_recorded_one_at_the_same_time():
    full = make_state()
    sur = surrogate()
    predicted = sur.step(full)
    corrected = State(fields={k: v[-1:] * 0.5 for k, v in predicted.fields.items()}, time=predicted.time[-1:],
                      coords=full.coords, boundaries=full.boundaries, units=full.units)
    sur.observe(corrected)
    assert sur._buffer.n_steps == 6
    np.testing.assert_array_equal(sur._buffer.fields["density"][-1], corrected.fields["density"][0])


def test_observe_in_one_unit_then_step_in_another_equals_one_unit():
    """The history buffer merges States: frames observed in m/s and a step in km/s give the all-m/s
    prediction (returned in km/s, the units of the State handed in), up to float32 round-off."""
    full = make_state(scale=1.0)
    mixed, same = surrogate(), surrogate()
    for i in range(5):
        frame = State(fields={k: v[i:i + 1] for k, v in full.fields.items()}, time=full.time[i:i + 1],
                      coords=full.coords, boundaries=full.boundaries, units=full.units)
        mixed.observe(frame)
        same.observe(frame)
    last = State(fields={k: v[5:] for k, v in full.fields.items()}, time=full.time[5:], coords=full.coords,
                 boundaries=full.boundaries, units=full.units)
    last_kms = last.to_units({"velocity": "km s-1"})
    a, b = mixed.step(last_kms), same.step(last)
    assert a.units["velocity"] == "km s-1"
    np.testing.assert_allclose(a.fields["velocity"][-1] * 1000.0, b.fields["velocity"][-1], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(a.fields["density"][-1], b.fields["density"][-1], rtol=1e-4, atol=1e-5)


def test_non_finite_predictions_are_refused():
    from walrus.errors import PredictionError
    for mode in ("exact", "streaming"):
        sur = surrogate(mode=mode)
        with torch.no_grad():
            next(sur.model.blocks.parameters()).fill_(float("nan"))
        with pytest.raises(PredictionError, match="NaN or infinite"):
            sur.step(make_state())


def test_values_beyond_float32_are_refused_by_name():
    from walrus.errors import ShapeError
    with pytest.raises(ShapeError, match="velocity.*float32 range"):
        surrogate().step(make_state(scale=1e39))
    with pytest.raises(ShapeError, match="velocity.*float32 statistics"):  # fits float32, its square does not
        surrogate().step(make_state(scale=1e25))


@pytest.mark.parametrize("mode", ["exact", "streaming"])
def test_one_cell_axis_is_refused_the_same_way_in_both_modes(mode):
    from walrus.errors import WalrusInputError
    st = State(fields={"density": 1 + np.random.default_rng(0).random((6, 8, 1))}, time=np.arange(6) * 0.1,
               coords={"x": GRID[:8], "y": np.zeros(1)}, boundaries={"x": "PERIODIC", "y": "PERIODIC"})
    with pytest.raises(WalrusInputError, match="unsupported dimensionality"):
        surrogate(mode=mode).step(st)


def test_argument_errors_name_the_argument():
    from walrus.errors import ArgumentError, InputKindError
    model = walrus.get_model("walrus-tiny")
    for kwargs, field in [({"mode": "fast"}, "mode"), ({"history": 0}, "history"), ({"dt": -1.0}, "dt"),
                          ({"seed": 1.5}, "seed"), ({"dataset": "a", "transforms": {}}, "dataset/transforms"),
                          ({"transforms": ["density"]}, "transforms"), ({"reanchor": 0}, "reanchor"),
                          ({"reanchor": "5"}, "reanchor"), ({"reanchor": True}, "reanchor")]:
        with pytest.raises(ArgumentError) as info:
            Surrogate(model, **kwargs)
        assert info.value.field == field
    sur = surrogate()
    for steps in (-1, 2.5, "3", True):
        with pytest.raises(ArgumentError, match="steps"):
            sur.rollout(make_state(), steps)  # refused on the call, before the first state is asked for
    with pytest.raises(ArgumentError, match="members"):
        sur.ensemble(make_state(), members=1)
    with pytest.raises(InputKindError):
        sur.step(3)
    assert issubclass(InputKindError, TypeError)
