"""Global attention over all tokens of a frame: a parallel (PaLM-style) attention + SwiGLU block
with axial rotary position embeddings on normalised coordinates."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from walrus.model.derived_cache import DerivedCache
from walrus.model.norms import RMSGroupNorm


class AxialRotaryEmbedding(nn.Module):
    """Axial RoPE: `head_dim // 8` frequencies per axis, positions `linspace(-1, 1, n)` per axis.

    Each angle is repeated for an adjacent pair of dims; the three axes (H, W, D order) give
    `6 * n_freqs` rotated dims (66 of 88 in the release); the rest of the head is not rotated.
    """

    def __init__(self, head_dim: int, max_freq: float = 128.0):
        super().__init__()
        n_freqs = head_dim // 8
        self.register_buffer("freqs", torch.linspace(1.0, max_freq, n_freqs) * math.pi, persistent=True)
        self._rotations = DerivedCache()

    @property
    def rotated_dims(self) -> int:
        return 6 * self.freqs.numel()

    def angles(self, grid: tuple[int, int, int], device: torch.device) -> torch.Tensor:
        """(h*w*d, rotated_dims) angles, in float32."""
        freqs = self.freqs.to(device=device, dtype=torch.float32)
        per_axis = []
        for axis, n in enumerate(grid):
            pos = torch.linspace(-1.0, 1.0, n, device=device)
            ang = (pos[:, None] * freqs[None, :]).repeat_interleave(2, dim=-1)  # (n, 2 nf)
            shape = [1, 1, 1, ang.shape[-1]]
            shape[axis] = n
            per_axis.append(ang.view(shape).expand(*grid, ang.shape[-1]))
        return torch.cat(per_axis, dim=-1).reshape(-1, self.rotated_dims)

    def rotation(self, grid: tuple[int, int, int], device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        """The rotation of each token's adjacent pairs as unit complex numbers (h*w*d, rotated_dims/2):
        cos and sin taken in float32, as the release does, and then cast to `dtype`.

        Kept per grid, device and dtype while the frequency buffer is unchanged (`DerivedCache`):
        every block and every streamed frame asks for the same one, about 90 small ops each time."""
        key = (tuple(grid), torch.device(device), dtype)
        return self._rotations.get(self.freqs, key, lambda: self._compute_rotation(grid, device, dtype))

    def _compute_rotation(self, grid: tuple[int, int, int], device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        half = self.angles(grid, device)[:, ::2]
        cos, sin = half.cos().to(dtype), half.sin().to(dtype)
        return torch.complex(cos, sin)

    @staticmethod
    def rotate_complex(x: torch.Tensor, rotation: torch.Tensor) -> torch.Tensor:
        """Rotate adjacent pairs (x0, x1) -> (x0 cos - x1 sin, x1 cos + x0 sin) on the leading dims:
        each pair read as x0 + i x1 and multiplied by cos + i sin from `rotation` (the same four
        products and two sums, in one pass); the dims past the rotated ones pass unchanged."""
        r = 2 * rotation.shape[-1]
        if x.stride(-1) != 1 or any(st % 2 for st in x.stride()[:-1]) or x.storage_offset() % 2:
            x = x.contiguous()  # a complex view needs (real, imaginary) pairs on even offsets
        pairs = torch.view_as_complex(x[..., :r].unflatten(-1, (r // 2, 2)))
        return torch.cat([torch.view_as_real(pairs * rotation).flatten(-2), x[..., r:]], dim=-1)


class FullAttention(nn.Module):
    """Release name: `FullAttention`. out = x + attn_out(attention) + ff_out(SwiGLU(ff)), one residual."""

    def __init__(self, hidden_dim: int, n_heads: int, groups: int, mlp_ratio: int = 4, rope_max_freq: float = 128.0):
        super().__init__()
        self.n_heads = n_heads
        self.head_dim = hidden_dim // n_heads
        self.mlp_dim = mlp_ratio * hidden_dim
        self.norm1 = RMSGroupNorm(groups, hidden_dim)
        self.fused_ff_qkv = nn.Linear(hidden_dim, self.mlp_dim + 3 * hidden_dim)
        self.ff_out = nn.Linear(self.mlp_dim // 2, hidden_dim)
        self.attn_out = nn.Linear(hidden_dim, hidden_dim, bias=False)
        self.q_norm = nn.LayerNorm(self.head_dim)
        self.k_norm = nn.LayerNorm(self.head_dim)
        self.rotary_emb = AxialRotaryEmbedding(self.head_dim, rope_max_freq)

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        """x: channels-last tokens (N, h, w, d, C) with N = T*B. `keep`: drop-path scale per sample,
        shape (N,), or None."""
        n, h, w, d, c = x.shape
        z = self.norm1.normalize_tokens(x.reshape(n, h * w * d, c))
        ff, q, k, v = self.fused_ff_qkv(z).split([self.mlp_dim, c, c, c], dim=-1)
        # per head, still token-major (n, L, heads, head_dim): normalised and rotated in this layout
        q, k, v = (t.unflatten(-1, (self.n_heads, self.head_dim)) for t in (q, k, v))
        rotation = self.rotary_emb.rotation((h, w, d), x.device, x.dtype).unsqueeze(1)  # (L, 1, pairs)
        q = self.rotary_emb.rotate_complex(self.q_norm(q), rotation)
        k = self.rotary_emb.rotate_complex(self.k_norm(k), rotation)
        att = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        att = att.transpose(1, 2).reshape(n, h * w * d, c)
        value, gate = ff.chunk(2, dim=-1)
        z = (self.attn_out(att) + self.ff_out(F.silu(gate) * value)).view(x.shape)
        if keep is not None:
            z = z * keep.view(n, 1, 1, 1, 1).to(z.dtype)
        return x + z
