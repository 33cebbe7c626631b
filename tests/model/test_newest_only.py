"""`newest_only`: inference computes the newest step's prediction alone, equal to the full pass's last step."""

import pytest
import torch

from walrus.model.normalization import normalize_input, predict_next, reconstruct, rms_stats
from walrus.model.streaming import anchor, stream_step

from model_helpers import FIELDS, PERIODIC_2D, WALL_2D, tiny

# float32 round-off: the newest query attends over the same keys as the full pass's last row, but
# another kernel may sum in another order (the margin another CPU needs, for outputs of order 1)
CLOSE = dict(rtol=1e-4, atol=1e-5)

CASES = [
    ((5, 2, 4, 32, 32), WALL_2D),
    ((4, 1, 4, 24, 32), PERIODIC_2D),
    ((3, 1, 4, 16, 16, 16), [[0, 0], [2, 2], [1, 1]]),
]


@pytest.mark.parametrize("shape, bcs", CASES)
def test_newest_only_is_the_last_step_of_the_full_pass(shape, bcs):
    model = tiny()
    x = torch.randn(shape, generator=torch.Generator().manual_seed(1))
    draws = model.draw_for(x.shape, [bcs] * shape[1], torch.Generator().manual_seed(2))
    with torch.no_grad():
        full = model(x, FIELDS, [bcs] * shape[1], draws=draws)
        newest = model(x, FIELDS, [bcs] * shape[1], draws=draws, newest_only=True)
    assert newest.shape == (1, *shape[1:])
    torch.testing.assert_close(newest, full[-1:], **CLOSE)


def test_newest_only_with_mixed_boundaries_in_one_batch():
    model = tiny()
    x = torch.randn(4, 3, 4, 32, 32, generator=torch.Generator().manual_seed(3))
    bcs = [WALL_2D, PERIODIC_2D, WALL_2D]
    with torch.no_grad():
        full = model(x, FIELDS, bcs, deterministic=True)
        newest = model(x, FIELDS, bcs, deterministic=True, newest_only=True)
    assert newest.shape == (1, 3, 4, 32, 32)
    torch.testing.assert_close(newest, full[-1:], **CLOSE)


def test_newest_only_in_training_mode_keeps_drop_path_and_gradients():
    """With drop path drawn (training), the newest step gets its own scales, and the gradients of
    a loss on it are the full pass's."""
    model = tiny(drop_path=0.5).train()
    x = torch.randn(4, 2, 4, 32, 32, generator=torch.Generator().manual_seed(4))
    draws = model.draw_for(x.shape, [WALL_2D] * 2, torch.Generator().manual_seed(5))
    assert any(k is not None and (k == 0).any() for k in draws.space_keep)  # some paths are dropped
    weight = torch.randn(1, 2, 4, 32, 32, generator=torch.Generator().manual_seed(6))

    def grads(newest_only: bool) -> dict:
        model.zero_grad(set_to_none=True)
        torch.manual_seed(0)  # the input field dropout draws from the global generator
        out = model(x, FIELDS, [WALL_2D] * 2, draws=draws, newest_only=newest_only)
        (out[-1:] * weight).sum().backward()
        return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    full, newest = grads(False), grads(True)
    assert full.keys() == newest.keys() and len(full) > 10
    # Summed over many cells with cancellation, so compared against the scale of all the gradients
    # (some, such as the key norm's bias, are zero but for round-off in both passes).
    scale = float(torch.cat([g.flatten() for g in full.values()]).pow(2).mean().sqrt())
    for name in full:
        assert float((newest[name] - full[name]).abs().max()) <= 1e-4 * scale, name


def test_newest_only_skips_the_earlier_steps_in_the_last_block_and_decoder():
    """The saving itself: every block but the last sees all T steps; the last block's space mixing
    and the decoder see the newest one only."""
    model = tiny()
    seen = {}
    for i, block in enumerate(model.blocks):
        block.space_mixing.register_forward_pre_hook(lambda mod, args, i=i: seen.__setitem__(f"space{i}", args[0].shape[0]))
    model.debed["2"].register_forward_pre_hook(lambda mod, args: seen.__setitem__("decoder", args[0].shape[0]))
    x = torch.randn(5, 2, 4, 32, 32)
    with torch.no_grad():
        model(x, FIELDS, [WALL_2D] * 2, newest_only=True)
    last = len(model.blocks) - 1
    assert seen == {**{f"space{i}": 5 * 2 for i in range(last)}, f"space{last}": 2, "decoder": 2}


def test_predict_next_and_the_evaluation_predictor_decode_the_newest_step_only():
    from walrus.train.evaluation import walrus_predictor

    model = tiny()
    decoded = []
    model.debed["2"].register_forward_pre_hook(lambda mod, args: decoded.append(args[0].shape[0]))
    x = 1 + 0.3 * torch.randn(4, 1, 4, 32, 32, generator=torch.Generator().manual_seed(7))
    nxt = predict_next(model, x, FIELDS, [WALL_2D], deterministic=True)

    class OneBatch:
        field_ids, bcs, n_variable = FIELDS, [WALL_2D], 4

    with torch.no_grad():
        walrus_predictor(model)(x, OneBatch)
    assert decoded == [1, 1]  # one batch element, one step, in both
    stats = rms_stats(x, model.config.rms_eps)
    with torch.no_grad():
        full = model(normalize_input(x, stats), FIELDS, [WALL_2D], deterministic=True)
    torch.testing.assert_close(nxt, reconstruct(x[-1], full[-1], stats), **CLOSE)


def test_newest_only_anchor_fills_the_same_cache_as_the_full_anchor():
    model = tiny()
    bcs = [[0, 0], [2, 2], [2, 2]]
    x = torch.randn(5, 1, 4, 32, 32, 1, generator=torch.Generator().manual_seed(8))
    draws = model.draw_for(x.shape, [bcs], torch.Generator().manual_seed(9))
    full_stream, full = anchor(model, x[:4], FIELDS, bcs, max_frames=5, draws=draws)
    stream, newest = anchor(model, x[:4], FIELDS, bcs, max_frames=5, draws=draws, newest_only=True)
    assert newest.shape == (1, *x.shape[1:])
    torch.testing.assert_close(newest, full[-1:], **CLOSE)
    for (k_full, v_full), (k, v) in zip(full_stream.kv, stream.kv):
        torch.testing.assert_close(k, k_full, **CLOSE)
        torch.testing.assert_close(v, v_full, **CLOSE)
    torch.testing.assert_close(stream_step(model, stream, x[4]), stream_step(model, full_stream, x[4]), **CLOSE)
