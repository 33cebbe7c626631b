"""Causal attention along time at every token position, with a T5 relative-position bias."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

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

    def forward(self, t: int, device: torch.device, dtype: torch.dtype, last_query_only: bool = False) -> torch.Tensor:
        """(1, heads, t, t) additive mask: learned bias on and below the diagonal, -inf above.
        With `last_query_only`, just the row of the newest query: (1, heads, 1, t)."""
        pos = torch.arange(t, device=device)
        queries = pos[-1:] if last_query_only else pos
        distance = queries[:, None] - pos[None, :]  # query - key
        bias = self.relative_attention_bias(t5_causal_bucket(distance, self.num_buckets, self.max_distance))
        bias = bias.permute(2, 0, 1).unsqueeze(0).to(dtype)
        return bias.masked_fill(distance < 0, float("-inf"))


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

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        """x: (T, B, C, h, w, d). `keep`: drop-path scale per time slice, shape (T,), or None."""
        t, b, c, h, w, d = x.shape
        z = self.norm1(x.reshape(t * b, c, h, w, d))
        z = self.input_head(z)
        z = rearrange(z, "(t b) (he c) h w d -> (b h w d) he t c", t=t, he=self.n_heads)
        q, k, v = z.tensor_split(3, dim=-1)
        q, k = self.qnorm(q), self.knorm(k)
        mask = self.rel_pos_bias(t, x.device, q.dtype)
        z = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        z = rearrange(z, "(b h w d) he t c -> (t b) (he c) h w d", b=b, h=h, w=w, d=d)
        z = self.output_head(z).reshape(t, b, c, h, w, d)
        if keep is not None:
            z = z * keep.view(t, 1, 1, 1, 1, 1).to(z.dtype)
        return x + z

    def forward_cached(self, x: torch.Tensor, cache: tuple[torch.Tensor, torch.Tensor] | None,
                       max_frames: int) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """The newest frame only, attending to cached keys/values of earlier frames.

        x: (1, B, C, h, w, d). Returns the frame's output and the cache with its keys/values
        appended, cut to the last `max_frames` frames. Equal to the last frame of `forward` on the
        whole history when the cache holds every earlier frame.
        """
        _, b, c, h, w, d = x.shape
        z = self.input_head(self.norm1(x[0]))
        z = rearrange(z, "b (he c) h w d -> (b h w d) he 1 c", he=self.n_heads)
        q, k, v = z.tensor_split(3, dim=-1)
        q, k = self.qnorm(q), self.knorm(k)
        if cache is not None:
            k, v = torch.cat([cache[0], k], dim=2)[:, :, -max_frames:], torch.cat([cache[1], v], dim=2)[:, :, -max_frames:]
        mask = self.rel_pos_bias(k.shape[2], x.device, q.dtype, last_query_only=True)
        z = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        z = rearrange(z, "(b h w d) he 1 c -> b (he c) h w d", b=b, h=h, w=w, d=d)
        return x + self.output_head(z).unsqueeze(0), (k, v)
