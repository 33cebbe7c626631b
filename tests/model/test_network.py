"""Whole-network properties: causality, translation, randomness control, batching, bad input."""

import pytest
import torch

import walrus
from walrus.model import Draws, WalrusInputError

from model_helpers import FIELDS, PERIODIC_2D, WALL_2D, tiny


def run(model, x, bcs=PERIODIC_2D, fields=FIELDS, seed=0, **kw):
    with torch.no_grad():
        return model(x, fields, bcs, generator=torch.Generator().manual_seed(seed), **kw)


def test_outputs_are_causal_in_time(tiny_model):
    x = torch.randn(5, 2, 4, 32, 32)
    y = run(tiny_model, x, WALL_2D)
    x2 = x.clone()
    x2[3:] = torch.randn_like(x2[3:])
    y2 = run(tiny_model, x2, WALL_2D)
    # causality: equal up to float32 round-off (batched kernels may sum in another order on another CPU)
    torch.testing.assert_close(y2[:3], y[:3], rtol=1e-4, atol=1e-5)
    assert (y2[3:] - y[3:]).abs().max() > 1e-2


def test_processor_is_not_an_identity_with_redrawn_weights(tiny_model):
    """Guards the other tests: with ordinary-scale weights the blocks change the output a lot."""
    x = torch.randn(3, 1, 4, 32, 32)
    full = run(tiny_model, x, deterministic=True)
    no_blocks = walrus.Walrus(tiny_model.config.replace(n_blocks=0))
    no_blocks.load_state_dict({k: v for k, v in tiny_model.state_dict().items() if not k.startswith("blocks.")})
    bare = run(no_blocks.eval(), x, deterministic=True)
    assert (full - bare).norm() / bare.norm() > 0.3


def test_jitter_off_changes_nothing_but_the_draws_on_periodic_data():
    """Periodic padding does not depend on jitter: a model built with jitter_patches=False equals
    the jittering model with zero shifts and no token rolls. (Exact roll-equivariance of the
    jitter-free network does NOT hold for the release's maths: the encoder's first RMS norm
    averages over the circular halo, and RoPE positions linspace(-1, 1) are not periodic. The
    exact translation property is the one below, through the jitter.)"""
    jittering = tiny()
    plain = tiny(jitter_patches=False)
    plain.load_state_dict(jittering.state_dict())
    x = torch.randn(2, 1, 4, 128, 64)
    torch.testing.assert_close(run(plain, x), run(jittering, x, deterministic=True), rtol=0, atol=0)


def test_patch_jitter_is_a_true_periodic_translation(tiny_model):
    """With jitter on, rolling a periodic input by m and drawing the shift m smaller gives the
    rolled output exactly, through all the blocks."""
    x = torch.randn(3, 1, 4, 64, 64)
    draws = tiny_model.draw_for(x.shape, PERIODIC_2D, torch.Generator().manual_seed(1))
    m = 5
    base = Draws((m, 0, 0), draws.block_rolls, draws.time_keep, draws.space_keep)
    shifted = Draws((0, 0, 0), draws.block_rolls, draws.time_keep, draws.space_keep)
    y = run(tiny_model, x, draws=base)
    y_rolled = run(tiny_model, torch.roll(x, m, 3), draws=shifted)
    torch.testing.assert_close(y_rolled, torch.roll(y, m, 3), rtol=1e-4, atol=1e-5)


def test_without_jitter_wall_axes_tokenise_to_32():
    model = tiny(jitter_patches=False)
    plan = model.plan((128, 128, 1), WALL_2D + [[2, 2]])
    assert [p.n_tokens for p in plan] == [32, 32, 1]
    x = torch.randn(2, 1, 4, 128, 128)
    assert run(model, x, WALL_2D, seed=0).equal(run(model, x, WALL_2D, seed=1))  # draws nothing


def test_jitter_is_on_at_inference_by_default_as_released(tiny_model):
    x = torch.randn(2, 1, 4, 64, 64)
    assert not tiny_model.training
    assert not run(tiny_model, x, seed=0).equal(run(tiny_model, x, seed=1))


def test_seeded_generator_reproduces_and_ignores_global_rng(tiny_model):
    x = torch.randn(2, 1, 4, 64, 64)
    torch.manual_seed(123)
    a = run(tiny_model, x, seed=7)
    torch.manual_seed(999)
    b = run(tiny_model, x, seed=7)
    assert a.equal(b)


def test_deterministic_mode_draws_nothing_and_keeps_the_release_grid(tiny_model):
    x = torch.randn(2, 1, 4, 64, 64)
    a = run(tiny_model, x, WALL_2D, seed=0, deterministic=True)
    b = run(tiny_model, x, WALL_2D, seed=1, deterministic=True)
    assert a.equal(b)
    tiny_model.deterministic = True
    assert run(tiny_model, x, WALL_2D, seed=5).equal(a)
    assert tiny_model.plan((128, 128, 1), WALL_2D + [[2, 2]])[0].n_tokens == 33


def test_explicit_draws_equal_generator_draws(tiny_model):
    x = torch.randn(2, 1, 4, 64, 64)
    draws = tiny_model.draw_for(x.shape, PERIODIC_2D, torch.Generator().manual_seed(3))
    assert run(tiny_model, x, draws=draws).equal(run(tiny_model, x, seed=3))


def test_out_of_range_draws_are_refused(tiny_model):
    x = torch.randn(2, 1, 4, 64, 64)
    draws = Draws((40, 0, 0), ((0, 0, 0),) * 2, (None, None), (None, None))
    with pytest.raises(ValueError, match="outside the allowed range"):
        run(tiny_model, x, WALL_2D, draws=draws)


def test_drop_path_in_training_drops_whole_time_slices():
    model = tiny(drop_path=0.9).train()
    draws = model.draw_for((4, 2, 4, 32, 32), PERIODIC_2D, torch.Generator().manual_seed(0))
    keep = draws.time_keep[-1]
    assert keep.shape == (4,) and all(v == 0 or abs(v - 10.0) < 1e-5 for v in keep.tolist())
    assert draws.space_keep[-1].shape == (8,)
    assert draws.time_keep[0] is None  # rate 0 for the first block, as linspace(0, p, n)
    assert all(k is None for k in model.eval().draw_for((4, 2, 4, 32, 32), PERIODIC_2D).time_keep)


def test_activation_checkpointing_gives_the_same_gradients():
    x = torch.randn(3, 2, 4, 32, 32)
    grads = []
    for freq in (0, 1):
        model = tiny(drop_path=0.3, gradient_checkpointing_freq=freq).train()
        y = model(x, FIELDS, PERIODIC_2D, generator=torch.Generator().manual_seed(0))
        y.square().mean().backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]))
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-4, atol=1e-7)


def test_channel_order_does_not_matter(tiny_model):
    x = torch.randn(2, 1, 4, 32, 32)
    perm = torch.tensor([2, 0, 3, 1])
    y = run(tiny_model, x, deterministic=True)
    y_perm = run(tiny_model, x[:, :, perm], fields=FIELDS[perm], deterministic=True)
    torch.testing.assert_close(y_perm, y[:, :, perm], rtol=1e-4, atol=1e-5)


def test_2d_input_equals_the_explicitly_lifted_slab(tiny_model):
    x = torch.randn(2, 1, 4, 32, 32)
    y2 = run(tiny_model, x, WALL_2D)
    y3 = run(tiny_model, x.unsqueeze(-1), WALL_2D + [[2, 2]])
    assert y2.equal(y3.squeeze(-1))


def test_mixed_boundaries_in_a_batch_are_split_or_refused(tiny_model):
    x = torch.randn(2, 3, 4, 32, 32)
    bcs = torch.tensor([PERIODIC_2D, WALL_2D, PERIODIC_2D])
    split = run(tiny_model, x, bcs, deterministic=True)
    periodic = run(tiny_model, x[:, [0, 2]], PERIODIC_2D, deterministic=True)
    wall = run(tiny_model, x[:, [1]], WALL_2D, deterministic=True)
    torch.testing.assert_close(split[:, [0, 2]], periodic)
    torch.testing.assert_close(split[:, [1]], wall)
    first = run(tiny_model, x, bcs, deterministic=True, mixed_bcs="first")
    torch.testing.assert_close(first, run(tiny_model, x, PERIODIC_2D, deterministic=True))
    with pytest.raises(WalrusInputError, match="different boundary conditions"):
        run(tiny_model, x, bcs, mixed_bcs="error")


@pytest.mark.parametrize("x, fields, bcs, match", [
    (torch.randn(2, 1, 4, 32), FIELDS, [[2, 2]], "expected shape"),
    (torch.randn(2, 1, 4, 32, 32), torch.tensor([3, 4, 5, 99]), PERIODIC_2D, "unknown field id"),
    (torch.randn(2, 1, 4, 32, 32), torch.tensor([3, 4, 5, 0]), PERIODIC_2D, "flag slots"),
    (torch.randn(2, 1, 4, 32, 32), torch.tensor([3, 4, 5]), PERIODIC_2D, "one vocabulary id per channel"),
    (torch.randn(2, 1, 4, 32, 1), FIELDS, PERIODIC_2D, "unsupported dimensionality"),
    (torch.randn(2, 1, 4, 32, 32), FIELDS, [[2, 2], [2, 5]], "codes must be"),
    (torch.randn(2, 1, 4, 32, 32), FIELDS, [[2, 0], [2, 2]], "periodic on one side"),
    (torch.randn(2, 1, 4, 32, 32), FIELDS, [[2, 2]], "bcs: expected shape"),
    (torch.ones(2, 1, 4, 32, 32, dtype=torch.bool), FIELDS, PERIODIC_2D, "floating-point"),
    (torch.ones(2, 1, 4, 32, 32, dtype=torch.complex64), FIELDS, PERIODIC_2D, "floating-point"),
    (torch.full((2, 1, 4, 32, 32), 2 ** 40 + 1, dtype=torch.long), FIELDS, PERIODIC_2D, "not exactly representable"),
    (torch.full((2, 1, 4, 32, 32), 1e300, dtype=torch.float64), FIELDS, PERIODIC_2D, "exceed the model's dtype"),
    (torch.randn(0, 1, 4, 32, 32), FIELDS, PERIODIC_2D, "empty axis T"),
    (torch.randn(2, 0, 4, 32, 32), FIELDS, PERIODIC_2D, "empty axis B"),
    (torch.randn(2, 1, 0, 32, 32), torch.tensor([], dtype=torch.long), PERIODIC_2D, "empty axis C"),
    (torch.randn(2, 1, 4, 0, 32), FIELDS, PERIODIC_2D, "empty axis H"),
    (torch.randn(2, 1, 4, 32, 32), FIELDS, [[2.5, 2.5], [2, 2]], "bcs: non-integral"),
    (torch.randn(2, 1, 4, 32, 32), FIELDS, [[float("nan"), 2], [2, 2]], "bcs: non-integral"),
    (torch.randn(2, 1, 4, 32, 32), FIELDS, [[float("inf"), 2], [2, 2]], "bcs: non-integral"),
    (torch.randn(2, 1, 4, 32, 32), FIELDS, "periodic", "bcs: not an array of integers"),
    (torch.randn(2, 1, 4, 32, 32), FIELDS, 2, "bcs: wrong rank"),
    (torch.randn(2, 1, 4, 32, 32), torch.tensor([3.0, 4.0, 5.0, 28.5]), PERIODIC_2D, "field_ids: non-integral"),
    ([[1.0]], FIELDS, PERIODIC_2D, "x: not a tensor"),
])
def test_bad_input_raises_a_clear_error(tiny_model, x, fields, bcs, match):
    with pytest.raises(WalrusInputError, match=match):
        tiny_model(x, fields, bcs)


def test_nan_input_is_refused(tiny_model):
    x = torch.randn(2, 1, 4, 32, 32)
    x[1, 0, 2, 5, 5] = float("nan")
    with pytest.raises(WalrusInputError, match="NaN"):
        tiny_model(x, FIELDS, PERIODIC_2D)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.int64, torch.int32])
def test_other_numeric_dtypes_are_cast_to_the_models(tiny_model, dtype):
    """float64/float16 and exactly representable integers reach the network as float32 (the model's
    dtype) and give what the float32 input gives (bit-identical for these values: the cast is exact)."""
    torch.manual_seed(0)
    x = torch.randint(-3, 4, (2, 1, 4, 16, 16)).to(dtype)
    ref = tiny_model(x.to(torch.float32), FIELDS, PERIODIC_2D, deterministic=True)
    got = tiny_model(x, FIELDS, PERIODIC_2D, deterministic=True)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, ref, rtol=0, atol=0)


def test_whole_number_float_codes_are_accepted(tiny_model):
    x = torch.randn(2, 1, 4, 16, 16)
    ref = tiny_model(x, FIELDS, PERIODIC_2D, deterministic=True)
    got = tiny_model(x, FIELDS.double(), [[2.0, 2.0], [2.0, 2.0]], deterministic=True)
    torch.testing.assert_close(got, ref, rtol=0, atol=0)


def test_nan_weights_are_refused_not_returned(tiny_model):
    from walrus.errors import PredictionError
    with torch.no_grad():
        next(tiny_model.blocks.parameters()).fill_(float("nan"))
    with pytest.raises(PredictionError, match="NaN or infinite"):
        tiny_model(torch.randn(2, 1, 4, 16, 16), FIELDS, PERIODIC_2D)
