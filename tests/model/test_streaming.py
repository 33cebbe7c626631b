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
