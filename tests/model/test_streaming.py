"""Streaming inference equals the full causal forward wherever the two are the same function."""

import pytest
import torch

from walrus.model.random_draws import Draws
from walrus.model.streaming import open_stream, stream_step

from model_helpers import FIELDS, tiny

BCS = [[0, 0], [2, 2], [2, 2]]


@pytest.mark.parametrize("deterministic", [False, True])
def test_stream_equals_full_forward_while_the_history_fills(deterministic):
    model = tiny()
    model.deterministic = deterministic
    x = torch.randn(6, 2, 4, 32, 32, 1)
    draws = model.draw_for(x.shape, [BCS] * 2, torch.Generator().manual_seed(0))
    with torch.no_grad():
        full = model(x, FIELDS, [BCS] * 2, draws=draws, deterministic=deterministic)
    stream = open_stream(model, x.shape[1:], FIELDS, BCS, max_frames=6, draws=None if deterministic else draws)
    for t in range(6):
        # equal up to float32 round-off (cached vs. recomputed attention sums in another order; the
        # margin another CPU's kernels need, for outputs of order 1)
        torch.testing.assert_close(stream_step(model, stream, x[t]), full[t], rtol=1e-4, atol=1e-5)


def test_truncated_cache_is_an_approximation_not_the_window_recompute():
    model = tiny()
    model.deterministic = True
    x = torch.randn(5, 1, 4, 32, 32, 1)
    stream = open_stream(model, x.shape[1:], FIELDS, BCS, max_frames=3)
    outs = [stream_step(model, stream, x[t]) for t in range(5)]
    with torch.no_grad():
        window = model(x[2:], FIELDS, [BCS])  # recompute over the last three frames
    assert (outs[-1] - window[-1]).abs().max() > 1e-4  # deeper layers remember frames 0-1
    assert stream.kv[0][0].shape[2] == 3


def test_streaming_refuses_training_mode():
    model = tiny().train()
    with pytest.raises(RuntimeError, match="eval"):
        open_stream(model, (1, 4, 32, 32, 1), FIELDS, BCS, max_frames=3)


def test_stream_step_runs_the_networks_own_blocks():
    """Streaming shares the full forward's block loop: every block module is entered (its hooks
    fire, as FSDP's do), once per frame, and only the time step differs."""
    model = tiny()
    model.deterministic = True
    calls = []
    for i, block in enumerate(model.blocks):
        block.register_forward_pre_hook(lambda mod, args, i=i: calls.append((i, args[0].shape[0])))
    x = torch.randn(3, 1, 4, 32, 32, 1)
    stream = open_stream(model, x.shape[1:], FIELDS, BCS, max_frames=3)
    for t in range(3):
        stream_step(model, stream, x[t])
    assert calls == [(i, 1) for _ in range(3) for i in range(len(model.blocks))]
    calls.clear()
    with torch.no_grad():
        model(x, FIELDS, [BCS])
    assert calls == [(i, 3) for i in range(len(model.blocks))]


def test_run_blocks_takes_the_time_mixing_step_as_a_strategy():
    model = tiny()
    model.deterministic = True
    x = torch.randn(3, 1, 4, 32, 32, 1)
    plans = model.plan(x.shape[3:], BCS)
    draws = Draws.none(model.config.n_blocks)  # what a deterministic forward uses
    seen = []

    def full(i, attention, h, keep):
        seen.append(i)
        return attention(h, keep)

    with torch.no_grad():
        h = model.encode(x, FIELDS, plans, draws)
        y = model.decode(model.run_blocks(h, draws, time_mixing=full), FIELDS, plans, draws)
        ref = model(x, FIELDS, [BCS])
        skipped = model.decode(model.run_blocks(h, draws, time_mixing=lambda i, a, h, k: h), FIELDS, plans, draws)
    assert seen == list(range(len(model.blocks)))
    torch.testing.assert_close(y, ref, rtol=0, atol=0)
    assert (skipped - ref).abs().max() > 1e-4  # the strategy is really what runs


# ------------------------------------------------------------------ anchoring and re-anchoring
from walrus.errors import ArgumentError  # noqa: E402
from walrus.model.normalization import normalize_input, reconstruct, rms_stats  # noqa: E402
from walrus.model.streaming import Reanchor, StreamingRollout, anchor, stats_drift  # noqa: E402


def test_anchor_is_the_full_forward_in_one_pass_and_leaves_a_ready_cache():
    model = tiny()
    x = torch.randn(5, 1, 4, 32, 32, 1)
    draws = model.draw_for(x.shape, [BCS], torch.Generator().manual_seed(1))
    with torch.no_grad():
        full = model(x, FIELDS, [BCS], draws=draws)
    stream, y = anchor(model, x[:4], FIELDS, BCS, max_frames=5, draws=draws)
    torch.testing.assert_close(y, full[:4], rtol=1e-4, atol=1e-5)
    assert stream.frames_seen == 4 and stream.kv[0][0].shape[2] == 4
    # the cache holds every frame so far: the next streamed frame is the full forward's
    torch.testing.assert_close(stream_step(model, stream, x[4]), full[4], rtol=1e-4, atol=1e-5)


def _exact_next(model, window, draws):
    stats = rms_stats(window, model.config.rms_eps)
    with torch.no_grad():
        out = model(normalize_input(window, stats), FIELDS, [BCS], draws=draws)
    return reconstruct(window[-1], out[-1], stats)


def _roll(rollout, x, steps):
    """Feed predictions back as the evaluation rollout does; returns (windows, predictions, anchored?)."""
    windows, preds, anchored = [], [], []
    for k in range(steps):
        before = rollout.anchors
        pred = rollout.predict(x, FIELDS, BCS, continues=k > 0)
        windows.append(x)
        preds.append(pred)
        anchored.append(rollout.anchors > before)
        x = torch.cat([x[1:], pred.unsqueeze(0)])
    return windows, preds, anchored


def test_reanchoring_equals_exact_at_the_anchor_steps_and_streams_between():
    model = tiny()
    x = 1 + 0.3 * torch.randn(4, 1, 4, 32, 32, 1)
    rollout = StreamingRollout(model, Reanchor(every=3), torch.Generator().manual_seed(0))
    draws = []
    windows, preds, anchored = [], [], []
    for k in range(7):
        before = rollout.anchors
        pred = rollout.predict(x, FIELDS, BCS, continues=k > 0)
        if rollout.anchors > before:
            draws.append(rollout.stream.draws)
        windows.append(x), preds.append(pred), anchored.append(rollout.anchors > before)
        x = torch.cat([x[1:], pred.unsqueeze(0)])
    assert anchored == [True, False, False, True, False, False, True]
    anchor_draws = iter(draws)
    for window, pred, is_anchor in zip(windows, preds, anchored):
        if is_anchor:  # a full pass on this window with fresh statistics: the exact step
            torch.testing.assert_close(pred, _exact_next(model, window, next(anchor_draws)), rtol=1e-4, atol=1e-5)
    # between anchors the statistics and draws are the anchor's: an approximation, not the exact step
    assert (preds[2] - _exact_next(model, windows[2], draws[0])).abs().max() > 1e-4


def test_every_step_anchored_is_exact_mode_draw_for_draw():
    from walrus.train.evaluation import walrus_predictor
    model = tiny()
    x = 1 + 0.3 * torch.randn(4, 1, 4, 32, 32, 1)
    _, preds, anchored = _roll(StreamingRollout(model, Reanchor(every=1), torch.Generator().manual_seed(5)), x, 3)
    assert all(anchored)

    class OneBatch:
        field_ids, bcs, n_variable = FIELDS, [BCS], 4

    exact = walrus_predictor(model, seed=5)
    with torch.no_grad():
        for pred in preds:
            want = exact(x, OneBatch)
            torch.testing.assert_close(pred, want, rtol=1e-4, atol=1e-5)
            x = torch.cat([x[1:], want.unsqueeze(0)])


def test_drift_trigger_fires_when_the_window_statistics_move():
    model = tiny()
    model.deterministic = True
    x = 1 + 0.3 * torch.randn(4, 1, 4, 32, 32, 1)
    rollout = StreamingRollout(model, Reanchor(every=None, drift=0.05, min_gap=1))
    rollout.predict(x, FIELDS, BCS, continues=False)
    rollout.predict(x, FIELDS, BCS)  # the same statistics: streamed
    assert rollout.anchors == 1 and rollout.since_anchor == 1
    moved = x.clone()
    moved[:, :, 1] *= 1.2  # one channel's RMS up by 20 %
    assert stats_drift(rms_stats(x), rms_stats(moved)) == pytest.approx(0.2, rel=1e-4)
    rollout.predict(moved, FIELDS, BCS)
    assert rollout.anchors == 2 and rollout.since_anchor == 0
    torch.testing.assert_close(rollout.stats.scale, rms_stats(moved, model.config.rms_eps).scale)


def test_min_gap_holds_a_drift_reanchor_back():
    model = tiny()
    model.deterministic = True
    x = 1 + 0.3 * torch.randn(4, 1, 4, 32, 32, 1)
    moved = x * 1.5  # every channel's RMS up by 50 %
    rollout = StreamingRollout(model, Reanchor(every=None, drift=0.05, min_gap=3))
    rollout.predict(x, FIELDS, BCS, continues=False)
    for _ in range(2):  # steps 1 and 2 after the anchor: drifted, but too soon
        rollout.predict(moved, FIELDS, BCS)
    assert rollout.anchors == 1
    rollout.predict(moved, FIELDS, BCS)  # step 3: due
    assert rollout.anchors == 2


def test_no_reanchoring_is_plain_streaming_and_a_broken_window_reopens():
    model = tiny()
    model.deterministic = True
    x = 1 + 0.3 * torch.randn(4, 1, 4, 32, 32, 1)
    rollout = StreamingRollout(model, Reanchor(every=None, drift=None))
    _, _, anchored = _roll(rollout, x, 6)
    assert anchored == [True] + [False] * 5
    rollout.predict(x, FIELDS, BCS, continues=False)
    assert rollout.anchors == 2


@pytest.mark.parametrize("kwargs, field", [({"every": 0}, "every"), ({"every": 2.5}, "every"),
                                           ({"every": True}, "every"), ({"every": "4"}, "every"),
                                           ({"drift": 0.0}, "drift"), ({"drift": -0.1}, "drift"),
                                           ({"drift": float("nan")}, "drift"), ({"drift": "5%"}, "drift"),
                                           ({"min_gap": 0}, "min_gap"), ({"min_gap": 1.5}, "min_gap")])
def test_bad_reanchoring_knobs_are_refused_by_name(kwargs, field):
    with pytest.raises(ArgumentError) as info:
        Reanchor(**kwargs)
    assert info.value.field == field


def test_a_policy_must_be_a_reanchor():
    with pytest.raises(ArgumentError, match="reanchor"):
        StreamingRollout(tiny(), reanchor=4)


def test_streamed_steps_keep_the_anchors_input_scale_but_the_current_windows_delta_scale():
    import copy
    model = tiny()
    x = 1 + 0.3 * torch.randn(4, 1, 4, 32, 32, 1)
    rollout = StreamingRollout(model, Reanchor(every=None, drift=None), torch.Generator().manual_seed(0))
    rollout.predict(x, FIELDS, BCS, continues=False)
    shifted = torch.cat([x[1:], x[-1:] + 1.5 * torch.randn(1, 1, 4, 32, 32, 1)])  # a larger last change
    stream = copy.deepcopy(rollout.stream)
    out = stream_step(model, stream, normalize_input(shifted[-1:], rollout.stats)[0])  # the anchor's input scale
    now = rms_stats(shifted, model.config.rms_eps)
    got = rollout.predict(shifted, FIELDS, BCS)
    torch.testing.assert_close(got, reconstruct(shifted[-1], out, now), rtol=1e-5, atol=1e-6)
    assert (now.delta_scale / rollout.stats.delta_scale - 1).abs().max() > 0.1  # the two scales really differ
