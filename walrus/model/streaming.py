"""Streaming inference: each new frame passes through the network once, reusing earlier frames' work.

The network is causal in time and mixes space within a frame only, so a frame's activations in
every block depend on that frame and earlier ones alone. With the normalisation statistics and
the random draws (patch jitter, token rolls) held fixed, the keys and values that the time
attention computed for earlier frames can be cached and each new frame costs one frame's worth of
compute instead of a whole window's.

Exactness: while the cache still holds every frame since the start, `step` returns exactly the
last output of a full forward pass over all those frames (same statistics, same draws). Once the
window is full the oldest keys are dropped, and a multi-layer causal model with a truncated cache
is *not* the same function as recomputing the window: deeper frames were computed with context
that has since left the window. That regime is an approximation whose error is measured, not
assumed (bench/streaming_rollout.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch

from walrus.errors import ModelStateError, WalrusInputError
from walrus.model.network import Walrus, check_dimensionality
from walrus.model.patching import AxisPlan
from walrus.model.random_draws import Draws
from walrus.model.time_attention import AxialTimeAttention


@dataclass
class StreamState:
    """What a stream holds between frames."""

    plans: tuple[AxisPlan, ...]
    draws: Draws
    field_ids: torch.Tensor
    max_frames: int
    kv: list[tuple[torch.Tensor, torch.Tensor] | None] = field(default_factory=list)
    frames_seen: int = 0


def open_stream(model: Walrus, frame_shape, field_ids: torch.Tensor, bcs, max_frames: int,
                draws: Draws | None = None, generator: torch.Generator | None = None,
                tokens_per_axis: int | None = None) -> StreamState:
    """Prepare a stream for frames of shape (B, C, H, W, D) with one boundary set `bcs` (3, 2);
    `tokens_per_axis` is the token budget, as in `Walrus.forward`."""
    if model.training:
        raise ModelStateError("streaming is for inference: call model.eval() first", field="model",
                              expected="a model in eval mode", received="a model in training mode")
    frame_shape = tuple(int(n) for n in frame_shape)
    if len(frame_shape) != 5 or 0 in frame_shape or max_frames < 1:
        raise WalrusInputError("bad stream shape", field="frame_shape",
                               expected="(B, C, H, W, D) with every axis non-empty, max_frames >= 1",
                               received=f"{frame_shape}, max_frames={max_frames}")
    b, c, *spatial = frame_shape
    check_dimensionality(spatial)
    bc_t = model.as_index_tensor(bcs, "bcs", device="cpu")
    if bc_t.numel() != 6:
        raise WalrusInputError("one boundary set for the three axes", field="bcs", expected="shape (3, 2)",
                               received=f"shape {tuple(bc_t.shape)}")
    bc = bc_t.reshape(3, 2)
    ids = model.as_index_tensor(field_ids, "field_ids")
    model._check_inputs(torch.zeros((1, 1, c, *spatial), dtype=model.dtype), ids.cpu(), bc.unsqueeze(0))
    bc = bc.tolist()
    plans = model.plan(spatial, bc, tokens_per_axis)
    if draws is None:
        draws = Draws.none(model.config.n_blocks) if model.deterministic else \
            model.draw_for((max_frames, b, c, *spatial), [bc] * b, generator, tokens_per_axis)
    draws.check(plans, model.config.n_blocks, rolls_allowed=model.config.jitter_patches)
    return StreamState(plans, draws, ids, max_frames,
                       [None] * model.config.n_blocks)


@torch.no_grad()
def stream_step(model: Walrus, stream: StreamState, frame: torch.Tensor) -> torch.Tensor:
    """Feed one normalised frame (B, C, H, W, D); returns the model's output for it (B, C, H, W, D).

    The frame goes through the same encoder, block loop and decoder as the full forward
    (`Walrus.encode`, `run_blocks`, `decode`) as a one-step sequence; only the time mixing differs:
    it attends to the cached keys/values of earlier frames (`AxialTimeAttention.forward_cached`).
    """
    field_ids = stream.field_ids.to(frame.device)
    n_blocks = len(stream.draws.block_rolls)
    # Inference has no drop path: any drop-path scales in the draws are not applied.
    draws = replace(stream.draws, time_keep=(None,) * n_blocks, space_keep=(None,) * n_blocks)

    def cached_time_mixing(i: int, attention: AxialTimeAttention, h: torch.Tensor,
                           keep: torch.Tensor | None) -> torch.Tensor:
        h, stream.kv[i] = attention.forward_cached(h, stream.kv[i], stream.max_frames)
        return h

    h = model.encode(frame.unsqueeze(0), field_ids, stream.plans, draws)
    h = model.run_blocks(h, draws, time_mixing=cached_time_mixing)
    y = model.decode(h, field_ids, stream.plans, draws)
    stream.frames_seen += 1
    return y[0]
