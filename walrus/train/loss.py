"""The release's training loss: L1 on RMS-normalised deltas of every causal step but the first."""

from __future__ import annotations

import torch

from walrus.model.normalization import RMSStats, normalize_delta


def causal_targets(x_var: torch.Tensor, future: torch.Tensor) -> torch.Tensor:
    """First differences of input + output frames: (T_in, B, C, ...) deltas, one per input step."""
    frames = torch.cat([x_var, future[:1]], dim=0)
    return frames[1:] - frames[:-1]


def delta_l1_loss(pred: torch.Tensor, x_var: torch.Tensor, future: torch.Tensor, stats: RMSStats,
                  padded_mask: torch.Tensor, minimum_context: int = 1, multiplier: float = 100.0,
                  inside_mask: torch.Tensor | None = None) -> torch.Tensor:
    """pred: the model's normalised deltas for the time-varying channels, (T_in, B, C_var, ...).

    Targets are the true deltas divided by the window's delta RMS; lifted (padded) components are
    forced to zero in the prediction (their targets are zero) and still count in the mean, as in
    the release. Where a constant obstacle mask exists (`inside_mask`, (B, H, W, D), True inside),
    prediction and target are zeroed inside it, as in the release. The first `minimum_context`
    causal outputs are dropped.
    """
    n_var = pred.shape[2]
    target = normalize_delta(causal_targets(x_var, future),
                             RMSStats(stats.scale[:, :, :n_var], stats.delta_scale[:, :, :n_var]))
    mask = padded_mask.to(pred.dtype).view(1, 1, n_var, *([1] * (pred.ndim - 3)))
    if inside_mask is not None:
        mask = mask * (~inside_mask).to(pred.dtype).unsqueeze(0).unsqueeze(2)
    error = (pred * mask - target * mask).abs()
    per_step = error.flatten(3).mean(-1)  # (T, B, C)
    return per_step[minimum_context:].mean() * multiplier
