"""The stride-modulated hMLP encoder and decoder (Convolutional Stride Modulation).

Two convolutions with fixed kernels (8 then 4) whose strides are chosen per axis and per input,
so one set of weights tokenises every resolution. The first encoder convolution and the last
decoder convolution hold one weight column per vocabulary slot; a forward pass selects the columns
of the fields present.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from walrus.model.derived_cache import DerivedCache
from walrus.model.norms import RMSGroupNorm
from walrus.model.vocabulary import FLAG_FIELD_IDS


def _collapse_singleton_axes(weight: torch.Tensor, x: torch.Tensor, strides: tuple[int, ...],
                             reduce: str) -> tuple[torch.Tensor, tuple[int, ...]]:
    """Where the input has one cell on an axis, reduce the kernel over that axis and use stride 1."""
    out_strides = list(strides)
    for axis in range(3):
        if x.shape[2 + axis] == 1:
            dim = 2 + axis
            weight = weight.sum(dim, keepdim=True) if reduce == "sum" else weight.mean(dim, keepdim=True)
            out_strides[axis] = 1
    return weight, tuple(out_strides)


def _squeezed(x: torch.Tensor, weight: torch.Tensor, strides: tuple[int, ...]):
    """Drop the one-cell spatial axes (their kernel already collapsed to one tap and stride 1), so a
    lifted 2-D input runs through 2-D convolutions: the same sums, at about twice the speed of the
    3-D kernels with a singleton axis. Returns x, weight, strides and the dropped axes (or None)."""
    single = [axis for axis in range(3) if x.shape[2 + axis] == 1 and weight.shape[2 + axis] == 1]
    if len(single) != 1:
        return x, weight, strides, None
    axis = single[0]
    return (x.squeeze(2 + axis), weight.squeeze(2 + axis),
            tuple(s for a, s in enumerate(strides) if a != axis), axis)


def conv(x: torch.Tensor, weight: torch.Tensor, strides: tuple[int, ...]) -> torch.Tensor:
    """`F.conv3d` without bias, through `F.conv2d` when one spatial axis is a single cell."""
    x2, w2, s2, axis = _squeezed(x, weight, strides)
    if axis is None:
        return F.conv3d(x, weight, stride=strides)
    return F.conv2d(x2, w2, stride=s2).unsqueeze(2 + axis)


def conv_transpose(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                   strides: tuple[int, ...]) -> torch.Tensor:
    """`F.conv_transpose3d`, through `F.conv_transpose2d` when one spatial axis is a single cell."""
    x2, w2, s2, axis = _squeezed(x, weight, strides)
    if axis is None:
        # By phases: never slower without autograd, and 1.2-4x faster for the strided 8-tap layer;
        # with autograd at stride 1 its backward (a padded convolution's) is 3-6x slower, measured.
        tracked = torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad)
        if not tracked or min(strides) > 1:
            return conv_transpose3d_by_phases(x, weight, bias, strides)
        return F.conv_transpose3d(x, weight, bias, stride=strides)
    return F.conv_transpose2d(x2, w2, bias, stride=s2).unsqueeze(2 + axis)


def conv_transpose3d_by_phases(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                               strides: tuple[int, int, int]) -> torch.Tensor:
    """`F.conv_transpose3d(x, weight, bias, stride=strides)` as one ordinary convolution.

    On CPU the 3-D transposed convolution has no optimised kernel (about a third of the speed of
    `F.conv3d` at the decoder's sizes). Output cell s*m + a of an axis with stride s sums
    x[m - j] * w[s*j + a] over the taps j: a plain convolution of x with the kernel's phase-a
    taps, flipped. All phases are computed at once as extra output channels and interleaved.
    Same products and sums, in another order.
    """
    c_in, c_out, *kernel = weight.shape
    taps = [-(-k // s) for k, s in zip(kernel, strides)]
    pad = []
    for k, s, t in zip(reversed(kernel), reversed(strides), reversed(taps)):
        pad.extend((0, t * s - k))  # zero taps so every phase has t of them
    w = F.pad(weight, pad) if any(pad) else weight
    (t0, t1, t2), (s0, s1, s2) = taps, strides
    w = w.view(c_in, c_out, t0, s0, t1, s1, t2, s2).permute(3, 5, 7, 1, 0, 2, 4, 6).flip(-3, -2, -1)
    y = F.conv3d(x, w.reshape(s0 * s1 * s2 * c_out, c_in, t0, t1, t2), padding=(t0 - 1, t1 - 1, t2 - 1))
    n, (m0, m1, m2) = x.shape[0], y.shape[2:]
    y = y.view(n, s0, s1, s2, c_out, m0, m1, m2).permute(0, 4, 5, 1, 6, 2, 7, 3).reshape(n, c_out, m0 * s0, m1 * s1, m2 * s2)
    out = [(size - 1) * s + k for size, s, k in zip(x.shape[2:], strides, kernel)]
    y = y[:, :, :out[0], :out[1], :out[2]]
    return y if bias is None else y + bias.view(1, -1, 1, 1, 1)


class StrideModulatedEncoder(nn.Module):
    """Release name: `SpaceBagAdaptiveDVstrideEncoder`."""

    def __init__(self, n_states: int, intermediate_dim: int, hidden_dim: int, groups: int,
                 kernels: tuple[int, int] = (8, 4)):
        super().__init__()
        k1, k2 = kernels
        self.n_states = n_states
        self.proj1 = nn.Conv3d(n_states, intermediate_dim, k1, bias=False)
        self.norm1 = RMSGroupNorm(groups, intermediate_dim)
        self.proj2 = nn.Conv3d(intermediate_dim, hidden_dim, k2, bias=False)
        self.norm2 = RMSGroupNorm(groups, hidden_dim)
        self._kernels = DerivedCache()  # collapsed kernels at inference (walrus.model.derived_cache)

    def forward(self, x: torch.Tensor, field_ids: torch.Tensor, strides1: tuple[int, int, int],
                strides2: tuple[int, int, int]) -> torch.Tensor:
        """x: (N, C + 3, H, W, D), the last three channels being the jitterer's flags."""
        w1, s1 = _kept(self._kernels, self.proj1.weight, "proj1", field_ids, x, strides1,
                       lambda: _collapse_singleton_axes(self._first_kernel(field_ids), x, strides1, "sum"))
        x = F.silu(self.norm1(conv(x, w1, s1)))
        w2, s2 = _kept(self._kernels, self.proj2.weight, "proj2", None, x, strides2,
                       lambda: _collapse_singleton_axes(self.proj2.weight, x, strides2, "sum"))
        return F.silu(self.norm2(conv(x, w2, s2)))

    def _first_kernel(self, field_ids: torch.Tensor) -> torch.Tensor:
        """The first convolution's columns of these fields and the three flags, rescaled for the
        field count (the wall and open flag columns, the last two, are left alone)."""
        flag_ids = torch.tensor(FLAG_FIELD_IDS, dtype=field_ids.dtype, device=field_ids.device)
        w1 = self.proj1.weight[:, torch.cat([field_ids, flag_ids])]
        scale = math.sqrt((self.n_states - 3) / len(field_ids))
        return torch.cat([w1[:, :-2] * scale, w1[:, -2:]], dim=1)


def _kept(cache: DerivedCache, weight: torch.Tensor, name: str, field_ids: torch.Tensor | None, x: torch.Tensor,
          strides: tuple[int, ...], compute: Callable[[], tuple[torch.Tensor, tuple[int, ...]]]):
    """`compute()` -> (kernel, strides), kept in `cache` between inference calls. It depends on the
    weight, the fields (kept only when their ids are on the CPU, where reading them costs no device
    sync), which input axes are single cells, and the strides."""
    if field_ids is not None and field_ids.device.type != "cpu":
        return compute()
    fields = None if field_ids is None else tuple(field_ids.tolist())
    single = tuple(n == 1 for n in x.shape[2:])
    key = (name, fields, single, tuple(strides))
    return cache.get(weight, key, compute)


def _periodic_conv_transpose(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                             strides: tuple[int, int, int], periodic: tuple[bool, bool, bool]) -> torch.Tensor:
    """Transposed convolution with singleton-axis averaging and periodic wrap on periodic axes.

    On a periodic axis the input is circularly padded by p = (k - s) // s tokens per side and
    p * s cells are cropped from each side of the output, so the cells near the edges receive
    the contributions of the tokens across the periodic seam.
    """
    return _periodic_conv_transpose_collapsed(x, *_collapse_singleton_axes(weight, x, strides, "mean"), bias, periodic)


def _periodic_conv_transpose_collapsed(x: torch.Tensor, weight: torch.Tensor, strides: tuple[int, ...],
                                       bias: torch.Tensor | None, periodic: tuple[bool, bool, bool]) -> torch.Tensor:
    """`_periodic_conv_transpose` with the kernel already averaged over the single-cell axes."""
    crops = []
    for axis in range(3):
        k, s = weight.shape[2 + axis], strides[axis]
        p = (k - s) // s if periodic[axis] else 0
        if p:
            n = x.shape[2 + axis]
            index = torch.arange(-p, n + p, device=x.device) % n
            x = x.index_select(2 + axis, index)
        crops.append(p * s)
    y = conv_transpose(x, weight, bias, strides)
    for axis, c in enumerate(crops):
        if c:
            y = y.narrow(2 + axis, c, y.shape[2 + axis] - 2 * c)
    return y


class StrideModulatedDecoder(nn.Module):
    """Release name: `AdaptiveDVstrideDecoder`. Strides run in the reverse order of the encoder."""

    def __init__(self, n_states: int, intermediate_dim: int, hidden_dim: int, groups: int,
                 kernels: tuple[int, int] = (8, 4)):
        super().__init__()
        k1, k2 = kernels
        self.proj1 = nn.ConvTranspose3d(hidden_dim, intermediate_dim, k2, bias=False)
        self.norm1 = RMSGroupNorm(groups, intermediate_dim)
        self.proj2 = nn.ConvTranspose3d(intermediate_dim, n_states, k1, bias=True)
        self._kernels = DerivedCache()  # collapsed kernels at inference (walrus.model.derived_cache)

    def forward(self, x: torch.Tensor, field_ids: torch.Tensor, strides1: tuple[int, int, int],
                strides2: tuple[int, int, int], periodic: tuple[bool, bool, bool]) -> torch.Tensor:
        """x: (N, hidden, h, w, d) tokens -> (N, C, H', W', D') normalised deltas of the C fields."""
        w1, s1 = _kept(self._kernels, self.proj1.weight, "proj1", None, x, strides2,
                       lambda: _collapse_singleton_axes(self.proj1.weight, x, strides2, "mean"))
        x = F.silu(self.norm1(_periodic_conv_transpose_collapsed(x, w1, s1, None, periodic)))
        w2, s2 = _kept(self._kernels, self.proj2.weight, "proj2", field_ids, x, strides1,
                       lambda: _collapse_singleton_axes(self.proj2.weight[:, field_ids], x, strides1, "mean"))
        return _periodic_conv_transpose_collapsed(x, w2, s2, self.proj2.bias[field_ids], periodic)
