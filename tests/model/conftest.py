import pytest
import torch

import walrus
from walrus.model import WalrusConfig


def redraw_weights(model: torch.nn.Module, std: float = 0.05, seed: int = 0) -> torch.nn.Module:
    """Ordinary-scale weights everywhere: at init the residual outputs are scaled by 1e-6, which
    would hide any mistake in the processor blocks (ARCHITECTURE.md §6, item 16)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm1.weight") or name.endswith("norm2.weight") or "_norm.weight" in name \
                    or name.endswith("qnorm.weight") or name.endswith("knorm.weight"):
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=gen))
            elif name == "encoder_dummy":
                continue
            else:
                p.copy_(std * torch.randn(p.shape, generator=gen))
    return model


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
