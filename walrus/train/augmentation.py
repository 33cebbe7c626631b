"""Tensor-law rotations of a whole micro-batch (the release's RandomRotation90, one rotation per batch).

A proper rotation of the cube permutes the three axes and flips some of them. Grids move with it,
each component of a rank-k field is re-indexed by the same permutation and picks up the sign
(-1)^(number of flipped indices), and the boundary rows move and swap sides with their axes. Lifted
2-D data is a one-cell slab, so after a rotation the slab may lie in any of the three planes.
"""

from __future__ import annotations

import numpy as np
import torch

from walrus.data import augment
from walrus.train.batching import Batch, ChannelLayout

_SPATIAL = (3, 4, 5)


def proper_rotations() -> list[tuple[tuple[int, int, int], tuple[int, int, int]]]:
    """The 24 rotations of `walrus.data.augment` as (perm, signs): R[j, perm[j]] = signs[j], i.e.
    new axis j is old axis perm[j], negated where signs[j] = -1."""
    out = []
    for matrix in augment.proper_rotations(3):
        perm = tuple(int(np.flatnonzero(row)[0]) for row in matrix)
        out.append((perm, tuple(int(matrix[j, perm[j]]) for j in range(3))))
    return out


def rotate_batch(batch: Batch, layout: ChannelLayout, perm, signs) -> Batch:
    lookup = {(f, idx): c for c, (f, idx) in enumerate(zip(layout.fields, layout.indices))}
    source, factor = [], []
    for f, idx in zip(layout.fields, layout.indices):
        source.append(lookup[(f, tuple(perm[j] for j in idx))])
        factor.append(float(np.prod([signs[j] for j in idx])) if idx else 1.0)
    src = torch.tensor(source, device=batch.x.device)
    sign = torch.tensor(factor, dtype=batch.x.dtype, device=batch.x.device).view(1, 1, -1, 1, 1, 1)
    flips = [d for d, s in zip(_SPATIAL, signs) if s < 0]

    def move(t: torch.Tensor, n_channels: int) -> torch.Tensor:
        t = t.permute(0, 1, 2, *(3 + p for p in perm))
        t = t.flip(flips) if flips else t
        return t.index_select(2, src[:n_channels]) * sign[:, :, :n_channels]

    n_var = batch.n_variable
    bcs = batch.bcs[:, list(perm)].clone()
    for j, s in enumerate(signs):
        if s < 0:
            bcs[:, j] = bcs[:, j].flip(-1)
    mask = batch.padded_mask[src[:n_var].cpu()] if batch.padded_mask.device.type == "cpu" else \
        batch.padded_mask[src[:n_var]]
    return Batch(move(batch.x, batch.x.shape[2]), move(batch.future, n_var), batch.field_ids, bcs, mask,
                 n_var, batch.dataset)


def random_rotation(rng: np.random.Generator):
    rotations = proper_rotations()
    return rotations[int(rng.integers(len(rotations)))]
