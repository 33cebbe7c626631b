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

from dataclasses import dataclass, field

import torch

from walrus.model.jitter import SPATIAL_DIMS, jitter, unjitter
from walrus.model.network import Walrus
from walrus.model.patching import AxisPlan, token_geometry
from walrus.model.random_draws import Draws


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
                draws: Draws | None = None, generator: torch.Generator | None = None) -> StreamState:
    """Prepare a stream for frames of shape (B, C, H, W, D) with one boundary set `bcs` (3, 2)."""
    if model.training:
        raise RuntimeError("streaming is for inference: call model.eval() first")
    b, c, *spatial = frame_shape
    bc = torch.as_tensor(bcs, dtype=torch.long).reshape(3, 2).tolist()
    plans = model.plan(spatial, bc)
    if draws is None:
        draws = Draws.none(model.config.n_blocks) if model.deterministic else \
            model.draw_for((max_frames, b, c, *spatial), [bc] * b, generator)
    draws.check(plans, model.config.n_blocks, rolls_allowed=model.config.jitter_patches)
    return StreamState(plans, draws, torch.as_tensor(field_ids, dtype=torch.long), max_frames,
                       [None] * model.config.n_blocks)


@torch.no_grad()
def stream_step(model: Walrus, stream: StreamState, frame: torch.Tensor) -> torch.Tensor:
    """Feed one normalised frame (B, C, H, W, D); returns the model's output for it (B, C, H, W, D)."""
    plans, draws = stream.plans, stream.draws
    field_ids = stream.field_ids.to(frame.device)
    geo = token_geometry(plans)
    x = jitter((frame * model.encoder_dummy).unsqueeze(0), plans, draws.patch_shifts)
    h = model.embed[geo.dim_key](x[0], field_ids, geo.strides1, geo.strides2).unsqueeze(0)
    total = [0, 0, 0]
    for i, block in enumerate(model.blocks):
        roll = draws.block_rolls[i]
        if any(roll):
            h = torch.roll(h, roll, SPATIAL_DIMS)
            total = [a + r for a, r in zip(total, roll)]
        h, stream.kv[i] = block.time_mixing.forward_cached(h, stream.kv[i], stream.max_frames)
        h = block.space_mixing(h[0]).unsqueeze(0)
    if any(total):
        h = torch.roll(h, [-r for r in total], SPATIAL_DIMS)
    y = model.debed[geo.dim_key](h[0], field_ids, geo.strides1, geo.strides2, geo.periodic).unsqueeze(0)
    stream.frames_seen += 1
    return unjitter(y, plans, draws.patch_shifts)[0]
