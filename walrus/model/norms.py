"""RMSGroupNorm with the release's exact semantics.

The release reshapes to (N, groups, C/groups, *spatial) and calls `F.rms_norm` over the
*spatial* dims only, so every channel is divided by its own RMS over space; the group count has
no effect. The eps is `F.rms_norm`'s default (the dtype's machine epsilon), not the module's.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from walrus.errors import ConfigError, WalrusInputError


class RMSGroupNorm(nn.Module):
    def __init__(self, groups: int, channels: int):
        super().__init__()
        if channels % groups:
            raise ConfigError(f"RMSGroupNorm: {channels} channels are not divisible into {groups} groups",
                              field="groups", expected=f"a divisor of {channels}", received=groups)
        self.groups = groups
        self.channels = channels
        self.weight = nn.Parameter(torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, *spatial = x.shape
        if c != self.channels:
            raise WalrusInputError("RMSGroupNorm: wrong channel count", field="x", expected=f"{self.channels} channels",
                                   received=f"{c} (shape {tuple(x.shape)})")
        grouped = x.reshape(n, self.groups, c // self.groups, *spatial)
        normed = F.rms_norm(grouped, tuple(spatial)).reshape(x.shape)
        return normed * self.weight.view(1, c, *([1] * len(spatial)))

    def normalize_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """The same normalisation on channels-last tokens (N, L, C): each channel of each sample
        divided by its RMS over the L tokens (plus the dtype's eps, as `F.rms_norm`), then weighted.
        The processor blocks keep their tokens in this layout to avoid permuting copies."""
        if x.shape[-1] != self.channels:
            raise WalrusInputError("RMSGroupNorm: wrong channel count", field="x", expected=f"{self.channels} channels",
                                   received=f"{x.shape[-1]} (shape {tuple(x.shape)})")
        eps = torch.finfo(x.dtype).eps
        return x * torch.rsqrt(x.square().mean(1, keepdim=True) + eps) * self.weight

    def extra_repr(self) -> str:
        return f"groups={self.groups}, channels={self.channels}"
