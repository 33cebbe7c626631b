"""Token grids: the release's table (ARCHITECTURE.md §3), round trips, and sizes beyond the table."""

import pytest
import torch

from walrus.model import UnsupportedGridError
from walrus.model.patching import plan_axes

from model_helpers import tiny

P, W, O = 2, 0, 1

# (input shape, bcs per axis) -> tokens, from ARCHITECTURE.md §3 "Token counts".
RELEASE_TABLE = [
    ((128, 128, 1), [(P, P), (P, P), (P, P)], (32, 32, 1)),
    ((128, 128, 1), [(W, W), (W, W), (P, P)], (33, 33, 1)),
    ((128, 128, 1), [(O, O), (O, O), (P, P)], (33, 33, 1)),
    ((512, 128, 1), [(W, W), (P, P), (P, P)], (33, 32, 1)),
    ((256, 256, 1), [(W, W), (W, W), (P, P)], (33, 33, 1)),
    ((64, 64, 64), [(P, P)] * 3, (16, 16, 16)),
    ((128, 128, 128), [(W, W), (P, P), (O, O)], (17, 16, 17)),
    ((128, 128, 256), [(P, P), (P, P), (W, W)], (16, 16, 17)),
    ((1, 128, 128), [(P, P)] * 3, (1, 32, 32)),
]


@pytest.mark.parametrize("shape, bcs, tokens", RELEASE_TABLE)
def test_release_token_grid(shape, bcs, tokens):
    plans = plan_axes(shape, bcs, (8, 4), jitter=True, release_only=True)
    assert tuple(p.n_tokens for p in plans) == tokens


def test_worked_example_padding():
    wall, periodic = plan_axes((128, 128, 1), [(W, W), (P, P), (P, P)], (8, 4), jitter=True)[:2]
    assert wall.const_pad == (7, 7) and wall.padded_size == 142 and wall.max_shift == 6
    assert periodic.circ_pad == 5 and periodic.padded_size == 138 and periodic.max_shift == 63
    no_jitter = plan_axes((128, 128, 1), [(W, W), (P, P), (P, P)], (8, 4), jitter=False)[0]
    assert no_jitter.const_pad == (5, 5) and no_jitter.n_tokens == 32 and no_jitter.max_shift == 0


@pytest.mark.parametrize("shape, bcs, tokens", [
    ((128, 128), [(P, P), (P, P)], (32, 32)),
    ((128, 128), [(W, W), (O, O)], (33, 33)),
    ((64, 64, 64), [(P, P)] * 3, (16, 16, 16)),
    ((128, 128, 128), [(W, W), (P, P), (O, O)], (17, 16, 17)),
    ((1, 128, 128), [(P, P)] * 3, (1, 32, 32)),
])
def test_forward_round_trips_to_the_input_shape(shape, bcs, tokens):
    model = tiny()
    x = torch.randn(2, 1, 2, *shape)
    plans = model.plan(tuple(shape) + (1,) * (3 - len(shape)), list(bcs) + [(P, P)] * (3 - len(bcs)))
    assert tuple(p.n_tokens for p in plans)[: len(tokens)] == tokens
    with torch.no_grad():
        y = model(x, torch.tensor([3, 28]), bcs)
    assert y.shape == x.shape
    assert torch.isfinite(y).all()


def test_release_mode_refuses_sizes_outside_the_table():
    with pytest.raises(UnsupportedGridError, match="stride table"):
        plan_axes((100, 128, 1), [(W, W), (P, P), (P, P)], (8, 4), jitter=True, release_only=True)


@pytest.mark.parametrize("size, bc", [(100, W), (97, P), (130, P), (130, O), (64, P), (48, W), (200, P)])
def test_any_grid_size_works_beyond_the_release(size, bc):
    model = tiny()
    x = torch.randn(2, 1, 1, size, 40)
    bcs = [(bc, bc), (P, P)]
    with torch.no_grad():
        y = model(x, torch.tensor([3]), bcs)
    assert y.shape == x.shape
    plan = model.plan((size, 40, 1), bcs + [(P, P)])[0]
    if bc == P:
        assert size % plan.patch_size == 0  # periodic axes never get fake padding
    assert 8 <= plan.n_tokens <= 130


def test_off_table_64_gets_the_release_token_target():
    plan = plan_axes((64, 64, 1), [(P, P)] * 3, (8, 4), jitter=True)[0]
    assert plan.n_tokens == 32 and plan.strides == (2, 1)
