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

Re-anchoring bounds that error: `StreamingRollout` re-opens the stream on the current window (one
full causal pass with fresh statistics and draws, whose keys and values fill the cache: `anchor`)
every `Reanchor.every` steps, or when the window's RMS drifts from the anchor's by more than
`Reanchor.drift`. An anchor step is exactly an "exact"-mode step; the steps between cost one frame
each. Speed and accuracy cost per policy: docs/model.md, bench/results/streaming_rollout_cpu.json.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field, replace
from typing import Callable

import torch

from walrus.errors import ArgumentError, ModelStateError, WalrusInputError
from walrus.model.network import Walrus, check_dimensionality
from walrus.model.normalization import RMSStats, normalize_input, reconstruct, rms_stats
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


@torch.no_grad()
def anchor(model: Walrus, window: torch.Tensor, field_ids: torch.Tensor, bcs, max_frames: int | None = None,
           draws: Draws | None = None, generator: torch.Generator | None = None,
           tokens_per_axis: int | None = None, newest_only: bool = False) -> tuple[StreamState, torch.Tensor]:
    """Open a stream on a whole normalised window (T, B, C, H, W, D) in one full causal pass.

    Returns the stream, its cache holding the window's keys/values (ready for `stream_step` on the
    next frame), and the pass's outputs (T, B, C, H, W, D): the full forward's with the same draws
    (with `newest_only`, the last step's alone, (1, B, C, H, W, D), as `Walrus.forward` gives it).
    Cheaper than feeding the T frames one by one.
    """
    t = window.shape[0]
    stream = open_stream(model, window.shape[1:], field_ids, bcs, max_frames or t, draws, generator, tokens_per_axis)
    ids = stream.field_ids.to(window.device)
    n_blocks = len(stream.draws.block_rolls)
    draws = replace(stream.draws, time_keep=(None,) * n_blocks, space_keep=(None,) * n_blocks)

    def full_time_mixing(i: int, attention: AxialTimeAttention, h: torch.Tensor,
                         keep: torch.Tensor | None) -> torch.Tensor:
        newest = newest_only and i == n_blocks - 1  # the cache still takes every frame's keys/values
        h, stream.kv[i] = attention.forward_and_cache(h, max_frames=stream.max_frames, newest_only=newest)
        return h

    h = model.encode(window, ids, stream.plans, draws)
    h = model.run_blocks(h, draws, time_mixing=full_time_mixing)
    y = model.decode(h, ids, stream.plans, draws)
    stream.frames_seen = t
    return stream, y


@dataclass(frozen=True)
class Reanchor:
    """When a streaming rollout re-opens its stream on the current window.

    every: a full pass (an "exact" step) every this many steps, streamed steps in between
        (1: every step, i.e. exact mode; None: only when `drift` says so or the window breaks).
    drift: also re-open when any channel's RMS in the current window differs from the anchor's
        (the input scale the cache was computed with) by more than this fraction (None: never).
    min_gap: a drift re-anchor waits until this many steps have passed since the last anchor,
        which caps the full passes at one in `min_gap` steps and so bounds the cost of drift.
    """

    # Chosen on the corpus validation split by a rule fixed beforehand (docs/model.md, "Choosing the
    # default"): the lowest-cost candidate at >= 2x over exact mode on 2 CPU threads, as exact mode
    # was then (every step's output); against the newest-only exact mode it runs at about 1.7x.
    every: int | None = 10
    drift: float | None = 0.1
    min_gap: int = 6

    def __post_init__(self):
        if self.every is not None and (isinstance(self.every, bool) or not isinstance(self.every, numbers.Integral)
                                       or self.every < 1):
            raise ArgumentError("re-anchoring interval", field="every", expected="an int >= 1 or None",
                                received=repr(self.every)[:80])
        if self.drift is not None and (isinstance(self.drift, bool) or not isinstance(self.drift, numbers.Real)
                                       or not math.isfinite(self.drift) or self.drift <= 0):
            raise ArgumentError("re-anchoring drift threshold", field="drift",
                                expected="a finite number > 0 (a fraction, e.g. 0.1) or None",
                                received=repr(self.drift)[:80])
        if isinstance(self.min_gap, bool) or not isinstance(self.min_gap, numbers.Integral) or self.min_gap < 1:
            raise ArgumentError("steps between drift re-anchors", field="min_gap", expected="an int >= 1",
                                received=repr(self.min_gap)[:80])


def stats_drift(anchor_stats: RMSStats, now: RMSStats) -> float:
    """Largest relative change of any channel's RMS (the input scale) since the anchor."""
    return float((now.scale / anchor_stats.scale - 1).abs().max())


class StreamingRollout:
    """Streaming prediction on physical windows, re-anchored by a `Reanchor` policy.

    `predict` takes the current window (T, B, C, H, W, D) in physical units and returns the next
    frame (B, C, H, W, D). `continues=True` says the window is the previous one shifted by the last
    prediction (or solver frame), so only its newest frame needs to pass through the network.

    Between anchors the inputs keep the anchor's RMS scale (the cache was computed with it), but
    the output delta is de-normalised with the *current* window's frame-to-frame RMS, as exact mode
    does: the network predicts the delta in units of the changes it sees in its window, and those
    are the current window's. Freezing that scale too was most of the old streaming error
    (bench/streaming_rollout.py's exact-frozen-delta against exact-frozen-scale).
    """

    def __init__(self, model: Walrus, reanchor: Reanchor = Reanchor(), generator: torch.Generator | None = None,
                 tokens_per_axis: int | None = None):
        if not isinstance(reanchor, Reanchor):
            raise ArgumentError("a re-anchoring policy", field="reanchor",
                                expected="a walrus.model.streaming.Reanchor", received=type(reanchor).__name__)
        self.model, self.reanchor, self.generator, self.tokens_per_axis = model, reanchor, generator, tokens_per_axis
        self.stream: StreamState | None = None
        self.stats: RMSStats | None = None  # the anchor's
        self.since_anchor = 0
        self.anchors = 0  # full passes so far (for benchmarks and tests)

    def reset(self) -> None:
        self.stream, self.stats, self.since_anchor = None, None, 0

    def due(self, now: RMSStats) -> bool:
        """Whether this step re-anchors, given the current window's statistics."""
        if self.stream is None:
            return True
        if self.reanchor.every is not None and self.since_anchor + 1 >= self.reanchor.every:
            return True
        return (self.reanchor.drift is not None and self.since_anchor + 1 >= self.reanchor.min_gap
                and stats_drift(self.stats, now) > self.reanchor.drift)

    @torch.no_grad()
    def predict(self, x: torch.Tensor, field_ids: torch.Tensor, bcs, continues: bool = True,
                stats: Callable[[torch.Tensor], RMSStats] | None = None) -> torch.Tensor:
        """The next frame of window `x`; `stats` computes a window's RMS statistics (default
        `rms_stats` with the model's epsilon; the Surrogate passes one that names overflowing fields)."""
        now = (stats or (lambda w: rms_stats(w, self.model.config.rms_eps)))(x)
        if not continues:
            self.reset()
        if self.due(now):
            self.stats = now
            self.stream, y = anchor(self.model, normalize_input(x, now), field_ids, bcs,
                                    generator=self.generator, tokens_per_axis=self.tokens_per_axis, newest_only=True)
            out = y[-1]
            self.since_anchor, self.anchors = 0, self.anchors + 1
        else:
            out = stream_step(self.model, self.stream, normalize_input(x[-1:], self.stats)[0])
            self.since_anchor += 1
        return reconstruct(x[-1], out, now)
