"""Patch jitter: boundary flags, padding order, and an exact inverse."""

import pytest
import torch

from walrus.model.jitter import boundary_flags, circular_pad, jitter, roll_moved, unjitter
from walrus.model.patching import plan_axes

P, W, O = 2, 0, 1


def test_flags_mark_inside_wall_and_open_slabs_and_add_at_corners():
    plans = plan_axes((128, 128, 1), [(W, O), (W, W), (P, P)], (8, 4), jitter=True)
    flags = boundary_flags(plans, torch.float32, torch.device("cpu"))[..., 0]
    inside, wall, open_ = flags
    assert flags.shape == (3, 142, 142)
    assert inside[7:135, 7:135].eq(1).all() and inside.sum() == 128 * 128
    assert wall[0, 50] == 1 and open_[0, 50] == 0          # low side of axis 0 is a wall
    assert open_[141, 50] == 1 and wall[141, 50] == 0      # high side of axis 0 is open
    assert wall[0, 0] == 2 and wall[141, 0] == 1 and open_[141, 0] == 1  # corners add up
    assert wall[50, 50] == 0 and open_[50, 50] == 0


def test_periodic_axes_get_no_flags_and_circular_pad_after_the_roll():
    plans = plan_axes((16, 16, 1), [(P, P), (W, W), (P, P)], (8, 4), jitter=True)
    x = torch.arange(16.0).view(1, 1, 1, 16, 1, 1).expand(1, 1, 1, 16, 16, 1).clone()
    y = jitter(x, plans, (3, 0, 0))
    pad = plans[0].circ_pad
    assert y.shape[3] == 16 + 2 * pad and y.shape[2] == 4
    rolled = torch.roll(x, 3, 3)
    interior = y[:, :, :1, pad:pad + 16, plans[1].const_pad[0]:plans[1].const_pad[0] + 16]
    torch.testing.assert_close(interior, rolled)
    torch.testing.assert_close(y[:, :, :1, :pad], y[:, :, :1, 16:16 + pad])  # wrapped copy
    lo = plans[1].const_pad[0]
    assert y[:, :, 2, :, :lo].eq(1).all() and y[:, :, 1, :, :lo].eq(0).all()  # wall slab on axis 1
    assert y[:, :, 2, :, lo:-lo].eq(0).all() and y[:, :, 3].eq(0).all()       # none along the periodic axis


def test_unjitter_inverts_jitter_for_every_shift_in_range():
    plans = plan_axes((32, 48, 1), [(W, O), (P, P), (P, P)], (8, 4), jitter=True)
    x = torch.randn(2, 3, 2, 32, 48, 1)
    for shifts in [(0, 0, 0), (plans[0].max_shift, -plans[1].max_shift, 0), (-1, 5, 0)]:
        y = jitter(x, plans, shifts)
        assert torch.equal(unjitter(y[:, :, :2], plans, shifts), x)


def test_circular_pad_longer_than_the_axis_wraps_repeatedly():
    x = torch.arange(3.0)
    assert circular_pad(x, 0, 4).tolist() == [2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0]


@pytest.mark.parametrize("shifts", [(0, 0, 0), (3, 0, 0), (8, -8, 0), (5, -3, 1), (-17, 4, 2)])
def test_token_roll_equals_torch_roll_and_skips_whole_turns(shifts):
    from walrus.model.network import TOKEN_DIMS

    h = torch.randn(2, 1, 8, 4, 2, 3)  # channels-last tokens (T, B, h, w, d, C)
    torch.testing.assert_close(roll_moved(h, shifts, TOKEN_DIMS), torch.roll(h, shifts, TOKEN_DIMS), rtol=0, atol=0)
    if all(s % n == 0 for s, n in zip(shifts, h.shape[2:5])):
        assert roll_moved(h, shifts, TOKEN_DIMS) is h  # nothing moves: no copy
