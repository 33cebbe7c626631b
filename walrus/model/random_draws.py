"""Every random number a forward pass uses, drawn up front from one generator.

Drawing before the forward (instead of inside the layers) makes a pass reproducible from a
seed, lets a caller hold the draws fixed over a rollout or across ensemble members, and keeps
activation checkpointing exact: a recomputed layer sees the same draws as the first pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from walrus.errors import WalrusInputError
from walrus.model.patching import AxisPlan


@dataclass(frozen=True)
class Draws:
    """Patch-jitter shifts, per-block token rolls and drop-path scales for one forward pass."""

    patch_shifts: tuple[int, int, int]
    block_rolls: tuple[tuple[int, int, int], ...]
    time_keep: tuple[torch.Tensor | None, ...]   # per block, (T,) scales or None
    space_keep: tuple[torch.Tensor | None, ...]  # per block, (T*B,) scales or None

    @classmethod
    def none(cls, n_blocks: int) -> "Draws":
        """No jitter, no rolls, no drop path: the deterministic pass."""
        return cls((0, 0, 0), ((0, 0, 0),) * n_blocks, (None,) * n_blocks, (None,) * n_blocks)

    def check(self, plans: tuple[AxisPlan, ...], n_blocks: int, rolls_allowed: bool = True) -> None:
        if len(self.block_rolls) != n_blocks:
            raise WalrusInputError("wrong number of block rolls", field="draws", expected=f"{n_blocks} (one per block)",
                                   received=len(self.block_rolls))
        if not rolls_allowed and any(any(r) for r in self.block_rolls):
            raise WalrusInputError("draws hold token rolls, but a model built with jitter_patches=False makes none",
                                   field="draws", expected="no token rolls", received=self.block_rolls)
        for axis, (shift, plan) in enumerate(zip(self.patch_shifts, plans)):
            if abs(shift) > plan.max_shift:
                raise WalrusInputError(
                    f"patch shift {shift} on axis {axis} is outside the allowed range "
                    f"[-{plan.max_shift}, {plan.max_shift}] for this grid and boundary", field="draws")


def _randint(low: int, high: int, generator: torch.Generator | None) -> int:
    """Uniform integer in [low, high] (inclusive)."""
    return int(torch.randint(low, high + 1, (1,), generator=generator).item())


def draw(plans: tuple[AxisPlan, ...], token_grid: tuple[int, int, int], n_blocks: int, t: int, b: int,
         drop_rates: tuple[float, ...], generator: torch.Generator | None, training: bool,
         block_rolls: bool = True) -> Draws:
    """Draw as the release does: one jitter shift per axis, a periodic token roll per axis before
    every block (only when the model jitters), and (training only) a drop-path keep mask per block."""
    shifts = tuple(_randint(-p.max_shift, p.max_shift, generator) if p.max_shift > 0 else 0 for p in plans)
    rolls = tuple(
        tuple(_randint(0, n - 1, generator) if block_rolls and p.periodic and n > 1 else 0 for p, n in zip(plans, token_grid))
        for _ in range(n_blocks)
    )
    time_keep, space_keep = [], []
    for rate in drop_rates:
        if training and rate > 0:
            keep_prob = 1.0 - rate
            time_keep.append(torch.bernoulli(torch.full((t,), keep_prob), generator=generator) / keep_prob)
            space_keep.append(torch.bernoulli(torch.full((t * b,), keep_prob), generator=generator) / keep_prob)
        else:
            time_keep.append(None)
            space_keep.append(None)
    return Draws(shifts, rolls, tuple(time_keep), tuple(space_keep))
