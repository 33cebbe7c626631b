"""Asymmetric RMS normalisation and delta reconstruction (the release's
`RMSSamplewiseRevNormalization`).

Inputs are divided by their RMS over time and space, the model's outputs are deltas in units of
the RMS of the *frame-to-frame differences*, and the next state is the last state plus the
de-normalised delta. No mean is subtracted. Constant channels are included in the statistics.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from walrus.errors import PredictionError, WalrusInputError


@dataclass(frozen=True)
class RMSStats:
    """Per sample and channel scales, shaped (1, B, C, 1, ...) to broadcast over (T, B, C, *spatial)."""

    scale: torch.Tensor
    delta_scale: torch.Tensor


def rms_stats(x: torch.Tensor, eps: float = 1e-5) -> RMSStats:
    """Statistics of a history window x of shape (T, B, C, *spatial)."""
    dims = (0, *range(3, x.ndim))
    scale = x.pow(2).mean(dims, keepdim=True).sqrt().clamp(min=eps)
    if x.shape[0] > 1:
        delta_scale = (x[1:] - x[:-1]).pow(2).mean(dims, keepdim=True).sqrt().clamp(min=eps)
    else:
        delta_scale = torch.ones_like(scale)
    return RMSStats(scale, delta_scale)


def normalize_input(x: torch.Tensor, stats: RMSStats) -> torch.Tensor:
    return x / stats.scale


def normalize_delta(delta: torch.Tensor, stats: RMSStats) -> torch.Tensor:
    return delta / stats.delta_scale


def reconstruct(last_state: torch.Tensor, normalized_delta: torch.Tensor, stats: RMSStats) -> torch.Tensor:
    """u_{t+1} = u_t + delta_scale * model output."""
    return last_state + stats.delta_scale[0] * normalized_delta


def predict_next(model: torch.nn.Module, x: torch.Tensor, field_ids: torch.Tensor, bcs,
                 stats: RMSStats | None = None, **forward_kwargs) -> torch.Tensor:
    """One step of the released inference loop: normalise the window, run the causal model,
    keep its last output and rebuild the next state, shape (B, C, *spatial).

    The output holds every input channel; constant-field channels are meaningless there and
    are for the caller to drop. `forward_kwargs` go to the model, e.g. ``tokens_per_axis=4`` for a
    coarser, faster token grid (the token budget of `Walrus.forward`).
    """
    as_input = getattr(model, "as_input", None)
    if as_input is not None:  # a Walrus: cast float64/int inputs to its dtype, refuse the rest by name
        x = as_input(x)
        forward_kwargs.setdefault("newest_only", True)  # only the last output is read
    if not isinstance(x, torch.Tensor):
        raise WalrusInputError("not a tensor", field="x", expected="a torch.Tensor (T, B, C, H, W[, D])",
                               received=type(x).__name__)
    if x.ndim < 3 or 0 in x.shape:
        raise WalrusInputError("empty or too few dims", field="x",
                               expected="shape (T, B, C, H, W[, D]) with every axis non-empty",
                               received=f"shape {tuple(x.shape)}")
    if x.is_floating_point() and not torch.isfinite(x).all():
        raise WalrusInputError("x: contains NaN or infinite values")
    stats = stats or rms_stats(x, getattr(getattr(model, "config", None), "rms_eps", 1e-5))
    if not (torch.isfinite(stats.scale).all() and torch.isfinite(stats.delta_scale).all()):
        raise WalrusInputError("values too large for the normalisation statistics", field="x",
                               expected=f"RMS of every channel within the {x.dtype} range",
                               received=f"max |value| {float(x.abs().max()):.3g}")
    out = model(normalize_input(x, stats), field_ids, bcs, **forward_kwargs)
    nxt = reconstruct(x[-1], out[-1], stats)
    if not torch.isfinite(nxt).all():
        raise PredictionError("the prediction holds NaN or infinite values", field="output", expected="finite values",
                              received=f"{int((~torch.isfinite(nxt)).sum())} non-finite of {nxt.numel()}")
    return nxt
