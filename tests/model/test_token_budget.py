"""`Walrus.forward(tokens_per_axis=k)`: the same network as a model configured with k tokens per axis."""

import pytest
import torch

import walrus
from walrus.errors import WalrusInputError

from model_helpers import FIELDS, PERIODIC_2D, WALL_2D, tiny


def configured(model: walrus.Walrus, k: int) -> walrus.Walrus:
    """The same weights in a model whose config targets k tokens per axis (2-D and 3-D)."""
    other = walrus.get_model("walrus-tiny", tokens_per_axis_2d=k, tokens_per_axis_3d=k)
    other.load_state_dict(model.state_dict())
    return other.eval()


CASES = [  # (input shape (T, B, C, *spatial), bcs, budget)
    ((3, 2, 4, 32, 32), WALL_2D, 8),
    ((3, 2, 4, 32, 32), PERIODIC_2D, 4),
    ((3, 1, 4, 48, 32), [[0, 0], [2, 2]], 6),
    ((2, 1, 4, 16, 16, 16), [[2, 2], [0, 0], [1, 1]], 4),
    ((2, 1, 4, 16, 16, 16), [[2, 2]] * 3, 8),
]


@pytest.mark.parametrize("shape, bcs, k", CASES)
def test_budget_per_call_equals_the_configured_budget(shape, bcs, k):
    model = tiny(seed=1)
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    ids = FIELDS
    with torch.no_grad():
        per_call = model(x, ids, bcs, generator=torch.Generator().manual_seed(7), tokens_per_axis=k)
        config = configured(model, k)(x, ids, bcs, generator=torch.Generator().manual_seed(7))
        default = model(x, ids, bcs, generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(per_call, config, rtol=1e-6, atol=1e-7)
    assert not torch.allclose(per_call, default, atol=1e-4)  # k is not the default: another token grid
    spatial = list(shape[3:]) + [1] * (5 - len(shape))
    lifted = [list(b) for b in bcs] + [[2, 2]] * (3 - len(bcs))
    assert model.plan(spatial, lifted, k) == configured(model, k).plan(spatial, lifted)


def test_draws_follow_the_budget():
    model = tiny(seed=1).train()
    shape = (3, 2, 4, 32, 32)
    per_call = model.draw_for(shape, WALL_2D, torch.Generator().manual_seed(3), tokens_per_axis=4)
    config = configured(model, 4).train().draw_for(shape, WALL_2D, torch.Generator().manual_seed(3))
    assert per_call.patch_shifts == config.patch_shifts and per_call.block_rolls == config.block_rolls


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "8"])
def test_bad_budget_is_refused_by_name(bad):
    model = tiny()
    with pytest.raises(WalrusInputError, match="tokens_per_axis"):
        model(torch.zeros(2, 1, 4, 16, 16), FIELDS, WALL_2D, tokens_per_axis=bad)
