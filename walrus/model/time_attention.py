"""Causal attention along time at every token position, with a T5 relative-position bias."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from walrus.model.derived_cache import DerivedCache
from walrus.model.norms import RMSGroupNorm


def t5_causal_bucket(n: torch.Tensor, num_buckets: int = 32, max_distance: int = 32) -> torch.Tensor:
    """Bucket of a non-negative distance `n` = query - key (T5, unidirectional).

    Distances below num_buckets // 2 get their own bucket; longer ones share log-spaced buckets
    up to `max_distance`. The release constructs the module with 128 but calls this with the
    default 32, so 32 is the effective value.
    """
    max_exact = num_buckets // 2
    n = n.clamp(min=0)
    log_ratio = torch.log(n.clamp(min=1).float() / max_exact) / math.log(max_distance / max_exact)
    large = (max_exact + (log_ratio * (num_buckets - max_exact)).long()).clamp(max=num_buckets - 1)
    return torch.where(n < max_exact, n, large)


class T5CausalBias(nn.Module):
    def __init__(self, n_heads: int, num_buckets: int = 32, max_distance: int = 32):
        super().__init__()
        self.num_buckets = num_buckets
        self.max_distance = max_distance
        self.relative_attention_bias = nn.Embedding(num_buckets, n_heads)
        self._buckets: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}
        self._masks = DerivedCache()  # whole masks at inference (walrus.model.derived_cache)

    def buckets(self, t: int, device: torch.device, last_query_only: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """The bucket of every (query, key) pair and where the key is in the future: they depend on
        the sequence length only, so each length is worked out once (streaming asks every frame)."""
        key = (t, torch.device(device), last_query_only)
        if key not in self._buckets:
            pos = torch.arange(t, device=device)
            queries = pos[-1:] if last_query_only else pos
            distance = queries[:, None] - pos[None, :]  # query - key
            self._buckets[key] = (t5_causal_bucket(distance, self.num_buckets, self.max_distance), distance < 0)
        return self._buckets[key]

    def forward(self, t: int, device: torch.device, dtype: torch.dtype, last_query_only: bool = False) -> torch.Tensor:
        """(1, heads, t, t) additive mask: learned bias on and below the diagonal, -inf above.
        With `last_query_only`, just the row of the newest query: (1, heads, 1, t). At inference
        the mask depends on the weights alone and is kept between calls (every streamed frame
        asks for it in every block)."""

        def mask() -> torch.Tensor:
            buckets, future = self.buckets(t, device, last_query_only)
            bias = self.relative_attention_bias(buckets).permute(2, 0, 1).unsqueeze(0).to(dtype)
            return bias.masked_fill(future, float("-inf"))

        key = (t, torch.device(device), dtype, last_query_only)
        return self._masks.get(self.relative_attention_bias.weight, key, mask)


class AxialTimeAttention(nn.Module):
    """Release name: `AxialTimeAttention`. qkv is interleaved per head: [q_h | k_h | v_h] for each head."""

    def __init__(self, hidden_dim: int, n_heads: int, groups: int, num_buckets: int = 32, max_distance: int = 32):
        super().__init__()
        self.n_heads = n_heads
        self.head_dim = hidden_dim // n_heads
        self.norm1 = RMSGroupNorm(groups, hidden_dim)
        self.input_head = nn.Conv3d(hidden_dim, 3 * hidden_dim, 1)
        self.output_head = nn.Conv3d(hidden_dim, hidden_dim, 1)
        self.qnorm = nn.LayerNorm(self.head_dim)
        self.knorm = nn.LayerNorm(self.head_dim)
        self.rel_pos_bias = T5CausalBias(n_heads, num_buckets, max_distance)

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None = None, newest_only: bool = False) -> torch.Tensor:
        """x: channels-last tokens (T, B, h, w, d, C). `keep`: drop-path scale per time slice, shape
        (T,), or None. `newest_only`: only the newest step's output (1, B, h, w, d, C), which
        attends to every step as in the full pass; the other T-1 outputs are not computed."""
        return self.forward_and_cache(x, keep, newest_only=newest_only)[0]

    def forward_and_cache(self, x: torch.Tensor, keep: torch.Tensor | None = None, max_frames: int | None = None,
                          newest_only: bool = False) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """`forward`, also returning the keys and values of the last `max_frames` frames (all by
        default), shaped (B*h*w*d, heads, frames, head_dim), as `forward_cached` keeps them."""
        t, b, h, w, d, c = x.shape
        n = b * h * w * d
        q, k, v = self._qkv(self.norm1.normalize_tokens(x.reshape(t * b, h * w * d, c)).reshape(t, n, c))
        if newest_only:
            q, x = q[:, :, -1:], x[-1:]
        queries = q.shape[2]
        mask = self.rel_pos_bias(t, x.device, q.dtype, last_query_only=newest_only)
        z = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        z = self._out(z.permute(2, 0, 1, 3).reshape(queries, n, c)).view(x.shape)
        if keep is not None:
            z = z * keep[-queries:].view(queries, 1, 1, 1, 1, 1).to(z.dtype)
        frames = t if max_frames is None else max_frames
        return x + z, (k[:, :, -frames:], v[:, :, -frames:])

    def _qkv(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Normalised tokens (T, N, C) -> q, k and v, each (N, heads, T, head_dim) (strided views of
        one product, q and k after their LayerNorm). The 1x1 input convolution is a matrix product
        on the channel axis; its output is interleaved per head as [q_h | k_h | v_h]."""
        t, n, c = z.shape
        z = F.linear(z, self.input_head.weight.view(3 * c, c), self.input_head.bias)
        z = z.view(t, n, self.n_heads, 3 * self.head_dim).permute(1, 2, 0, 3)
        q, k, v = z.split(self.head_dim, dim=-1)
        return self.qnorm(q), self.knorm(k), v

    def _out(self, z: torch.Tensor) -> torch.Tensor:
        """The 1x1 output convolution on channels-last (..., C)."""
        c = z.shape[-1]
        return F.linear(z, self.output_head.weight.view(c, c), self.output_head.bias)

    def forward_cached(self, x: torch.Tensor, cache: tuple[torch.Tensor, torch.Tensor] | None,
                       max_frames: int) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """The newest frame only, attending to cached keys/values of earlier frames.

        x: channels-last tokens of one frame (1, B, h, w, d, C). Returns the frame's output and the
        cache with its keys/values appended, cut to the last `max_frames` frames. Equal to the last
        frame of `forward` on the whole history when the cache holds every earlier frame.
        """
        _, b, h, w, d, c = x.shape
        n = b * h * w * d
        q, k, v = self._qkv(self.norm1.normalize_tokens(x.reshape(b, h * w * d, c)).reshape(1, n, c))
        if cache is not None:
            k, v = torch.cat([cache[0], k], dim=2)[:, :, -max_frames:], torch.cat([cache[1], v], dim=2)[:, :, -max_frames:]
        mask = self.rel_pos_bias(k.shape[2], x.device, q.dtype, last_query_only=True)
        z = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return x + self._out(z.reshape(n, c)).view(x.shape), (k, v)
