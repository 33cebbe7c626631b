"""Autoregressive rollouts scored with VRMSE, one routine for every predictor.

Training's validation and `bench/accuracy.py` both roll a `Batch` forward with this code, so the
walrus model, persistence and the FNO / U-Net baselines are scored on the same windows, in the same
channels (the dataset's `ChannelLayout`, physical units), with the same obstacle mask and the same
metric. A predictor maps the input window ``(T, B, C, H, W, D)`` (time-varying channels, then
constants) to the next frame of the time-varying channels ``(B, C_var, H, W, D)``.
"""

from __future__ import annotations

from typing import Callable

import torch

from walrus.metrics import vrmse
from walrus.model.normalization import normalize_input, reconstruct, rms_stats
from walrus.train.batching import Batch

__all__ = ["Predictor", "walrus_predictor", "persistence_predictor", "rollout", "rollout_vrmse"]

#: window (T, B, C, H, W, D) -> next frame of the time-varying channels (B, C_var, H, W, D)
Predictor = Callable[[torch.Tensor, Batch], torch.Tensor]


def walrus_predictor(model: torch.nn.Module, seed: int = 0, tokens_per_axis: int | None = None) -> Predictor:
    """The network as a predictor: RMS-normalise the window, predict the normalised delta, add it
    to the last frame (the release's inference); jitter draws come from one seeded generator.
    `tokens_per_axis` is the token budget per axis (default: the model config's)."""
    budget = {} if tokens_per_axis is None else {"tokens_per_axis": tokens_per_axis}
    gen = torch.Generator().manual_seed(seed)
    eps = model.config.rms_eps

    def predict(window: torch.Tensor, batch: Batch) -> torch.Tensor:
        stats = rms_stats(window, eps)
        out = model(normalize_input(window, stats), batch.field_ids, batch.bcs, generator=gen, newest_only=True,
                    **budget)
        return reconstruct(window[-1], out[-1], stats)[:, :batch.n_variable]

    return predict


def persistence_predictor() -> Predictor:
    """Copy the last frame: the baseline any learned model has to beat."""
    def predict(window: torch.Tensor, batch: Batch) -> torch.Tensor:
        return window[-1, :, :batch.n_variable].clone()

    return predict


def rollout(predict: Predictor, batch: Batch, steps: int | None = None) -> torch.Tensor:
    """Feed predictions back as inputs for `steps` steps (default: every future frame the batch
    holds); returns the predicted frames ``(steps, B, C_var, H, W, D)``. Lifted zero components
    and cells inside obstacles are zeroed each step, as in training's loss."""
    steps = batch.future.shape[0] if steps is None else steps
    if not 1 <= steps <= batch.future.shape[0]:
        raise ValueError(f"steps must be in 1..{batch.future.shape[0]} (the batch's future frames), received {steps}")
    n_var = batch.n_variable
    window = batch.x
    constants = window[-1:, :, n_var:]
    keep = batch.padded_mask.to(window.dtype).view(1, -1, 1, 1, 1)
    outside = None if batch.inside_mask is None else (~batch.inside_mask).unsqueeze(1).to(window.dtype)
    frames = []
    for _ in range(steps):
        pred = predict(window, batch) * keep
        if outside is not None:
            pred = pred * outside
        frames.append(pred)
        window = torch.cat([window[1:], torch.cat([pred.unsqueeze(0), constants], dim=2)], dim=0)
    return torch.stack(frames)


def rollout_vrmse(predict: Predictor, batch: Batch, steps: int | None = None) -> torch.Tensor:
    """VRMSE (The Well's definition) of each rollout step against the true future, per real
    channel and averaged over the batch: ``(steps, C_real)``."""
    frames = rollout(predict, batch, steps)
    keep = batch.padded_mask
    truth = batch.future[: frames.shape[0]]
    # (steps, B, C, H, W, D) -> channels last, the three spatial axes reduced
    return vrmse(frames[:, :, keep].movedim(2, -1), truth[:, :, keep].movedim(2, -1), 3).mean(1)
