"""Shared by the model tests (a plain module: every test directory's conftest is named `conftest`)."""

import torch

import walrus
from walrus.testing import redraw_weights  # noqa: F401  (re-exported for the tests)

FIELDS = torch.tensor([3, 4, 5, 28])  # pressure, velocity_x, velocity_y, density
PERIODIC_2D = [[2, 2], [2, 2]]
WALL_2D = [[0, 0], [0, 0]]


def tiny(seed: int = 0, **overrides) -> walrus.Walrus:
    """walrus-tiny with ordinary-scale weights, in eval mode."""
    torch.manual_seed(seed)
    model = walrus.get_model("walrus-tiny", **overrides)
    return redraw_weights(model, seed=seed).eval()
