import pytest
import torch

import walrus
from walrus.testing import redraw_weights  # noqa: F401  (re-exported for the tests)


def tiny(seed: int = 0, **overrides) -> walrus.Walrus:
    torch.manual_seed(seed)
    model = walrus.get_model("walrus-tiny", **overrides)
    return redraw_weights(model, seed=seed).eval()


@pytest.fixture
def tiny_model() -> walrus.Walrus:
    return tiny()


FIELDS = torch.tensor([3, 4, 5, 28])  # pressure, velocity_x, velocity_y, density
PERIODIC_2D = [[2, 2], [2, 2]]
WALL_2D = [[0, 0], [0, 0]]
