"""Patch jitter with boundary padding (the release's `FixedPatchJittererBoundaryPad`).

Order on the way in: zero-pad non-periodic axes and build the three flag channels, roll data and
flags together by the drawn shifts, then circular-pad periodic axes. The way out undoes it in
reverse: crop the circular pads, roll back, crop the zero pads. There are no parameters.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from walrus.model.patching import OPEN, WALL, AxisPlan

SPATIAL_DIMS = (3, 4, 5)  # of a (T, B, C, H, W, D) tensor


def circular_pad(x: torch.Tensor, dim: int, pad: int) -> torch.Tensor:
    """Wrap `pad` cells onto each side of `dim`; works for pads longer than the axis too."""
    if pad == 0:
        return x
    n = x.shape[dim]
    index = torch.arange(-pad, n + pad, device=x.device) % n
    return x.index_select(dim, index)


def boundary_flags(plans: tuple[AxisPlan, ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """The (3, H', W', D') flag channels over the zero-padded box: inside, wall count, open count."""
    shape = [p.size + sum(p.const_pad) for p in plans]
    inside = torch.ones(shape, dtype=dtype, device=device)
    wall = torch.zeros(shape, dtype=dtype, device=device)
    open_ = torch.zeros(shape, dtype=dtype, device=device)
    for axis, plan in enumerate(plans):
        lo, hi = plan.const_pad
        if lo == 0 and hi == 0:
            continue
        view = [1, 1, 1]
        view[axis] = shape[axis]
        idx = torch.arange(shape[axis], device=device)
        lo_slab = (idx < lo).to(dtype).view(view)
        hi_slab = (idx >= shape[axis] - hi).to(dtype).view(view)
        inside = inside * (1 - lo_slab - hi_slab)
        wall = wall + lo_slab * (plan.bc[0] == WALL) + hi_slab * (plan.bc[1] == WALL)
        open_ = open_ + lo_slab * (plan.bc[0] == OPEN) + hi_slab * (plan.bc[1] == OPEN)
    return torch.stack([inside, wall, open_])


def roll_moved(x: torch.Tensor, shifts, dims) -> torch.Tensor:
    """`torch.roll` over `dims`, skipping the axes it would leave unchanged (a zero shift, or a
    whole turn): each rolled axis costs a full copy. Nothing to move returns `x` itself."""
    moved = [(s % x.shape[d], d) for s, d in zip(shifts, dims) if s % x.shape[d]]
    if not moved:
        return x
    return torch.roll(x, [s for s, _ in moved], [d for _, d in moved])


def jitter(x: torch.Tensor, plans: tuple[AxisPlan, ...], shifts: tuple[int, int, int]) -> torch.Tensor:
    """(T, B, C, H, W, D) -> (T, B, C + 3, H', W', D') padded, flagged and rolled."""
    pad = []
    for plan in reversed(plans):  # F.pad lists the last dim first
        pad.extend(plan.const_pad)
    x = F.pad(x, pad) if any(pad) else x
    flags = boundary_flags(plans, x.dtype, x.device)
    t, b = x.shape[:2]
    x = torch.cat([x, flags.expand(t, b, *flags.shape)], dim=2)
    x = roll_moved(x, shifts, SPATIAL_DIMS)
    for plan, dim in zip(plans, SPATIAL_DIMS):
        x = circular_pad(x, dim, plan.circ_pad)
    return x


def unjitter(y: torch.Tensor, plans: tuple[AxisPlan, ...], shifts: tuple[int, int, int]) -> torch.Tensor:
    """Undo `jitter` on the decoder output (T, B, C, H', W', D') -> (T, B, C, H, W, D)."""
    for plan, dim in zip(plans, SPATIAL_DIMS):
        if plan.circ_pad:
            y = y.narrow(dim, plan.circ_pad, y.shape[dim] - 2 * plan.circ_pad)
    y = roll_moved(y, [-s for s in shifts], SPATIAL_DIMS)
    for plan, dim in zip(plans, SPATIAL_DIMS):
        lo, hi = plan.const_pad
        if lo or hi:
            y = y.narrow(dim, lo, y.shape[dim] - lo - hi)
    return y
