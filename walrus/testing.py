"""Helpers for testing code built on walrus (used by walrus's own tests too)."""

from __future__ import annotations

import torch


def redraw_weights(model: torch.nn.Module, std: float = 0.05, seed: int = 0) -> torch.nn.Module:
    """Give every weight an ordinary scale, in place.

    At init the release scales its residual output projections by ~1e-6, so the processor blocks
    barely change a fresh model's output and a test on fresh weights cannot see a wrong block
    (ARCHITECTURE.md §6, item 16). Norm weights are drawn around 1, everything else around 0.
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name == "encoder_dummy":
                continue
            if "norm" in name.rsplit(".", 2)[-2] and name.endswith(".weight"):
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(std * torch.randn(p.shape, generator=gen))
    return model
