"""Tensor-law rotations of a whole micro-batch (the release's RandomRotation90: one element per batch).

The group action is `walrus.data.augment`'s, applied field by field with the plugin registry's
law for each field (rank-derived, a pseudo-vector's det R factor, or a plugin's own function), so
training honours exactly what the plugins declare. Lifted 2-D data is a one-cell slab; after a
rotation it may lie in any of the three planes, and the padded-component flags move with it.
Only cartesian grids are rotated: on spherical or other curvilinear grids an axis permutation is
not a symmetry, and The Well does not rotate them either (the trainer gives a dataset laws only if
its grid type is in ROTATABLE_GRIDS). On the overlap with The Well's ``rotate90`` (polar fields of
rank 0-2, boundary rows) the result is bit-identical: tests/data/test_well_equivalence.py;
docs/reuse.md says why this code is kept beside The Well's.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Mapping

import numpy as np
import torch

from walrus.data import augment
from walrus.hooks import SymmetryRule
from walrus.layout import MODEL_DIMS, ChannelLayout
from walrus.train.batching import Batch

ROTATABLE_GRIDS = ("cartesian",)


def layout_rules(layout: ChannelLayout, registry=None) -> dict[str, SymmetryRule]:
    """Each stored field's law: the registry's (plugin overrides included) for a registered field,
    the rank's for one the plugins do not know."""
    if registry is None:
        from walrus.plugins import get_registry

        registry = get_registry()
    return {f.name: registry.rule(f.name) if f.name in registry.fields else SymmetryRule(f.rank)
            for f in layout.fields}


def random_element(rng: np.random.Generator, reflections: bool = False) -> np.ndarray:
    """One of the 24 proper rotations of the cube (or of all 48 elements with reflections)."""
    return augment.random_element(MODEL_DIMS, rng, reflections=reflections)


def _transform_channels(t: torch.Tensor, layout: ChannelLayout, rotation: np.ndarray,
                        rules: Mapping[str, SymmetryRule], n_channels: int) -> torch.Tensor:
    """Apply the element to (T, B, C, H, W, D) channels; each field's components by its own law."""
    last = t.movedim(2, -1)  # (T, B, H, W, D, C)
    out = None
    for f in layout.fields:
        idx = [i for i in layout.field_channels(f.name, f.constant) if i < n_channels]
        if not idx:
            continue
        values = last[..., idx].reshape(*last.shape[:-1], *(MODEL_DIMS,) * f.rank)
        moved = augment.transform_field(values, rotation, rules[f.name])
        moved = moved.reshape(*moved.shape[: last.ndim - 1], len(idx))
        if out is None:  # the grid's shape changes with the axes
            out = last.new_empty(*moved.shape[:-1], last.shape[-1])
        out[..., idx] = moved
    return out.movedim(-1, 2)


def rotate_batch(batch: Batch, layout: ChannelLayout, rotation, rules: Mapping[str, SymmetryRule]) -> Batch:
    """The batch seen in axes mapped by the signed permutation ``rotation`` (x' = R x)."""
    rotation = np.asarray(rotation)
    perm, _ = augment._decompose(rotation)
    n_var = batch.n_variable
    x = _transform_channels(batch.x, layout, rotation, rules, batch.x.shape[2])
    future = _transform_channels(batch.future, layout, rotation, rules, n_var)
    bcs = torch.stack([augment.transform_boundaries(b, rotation) for b in batch.bcs])
    # new component (i, j, ...) holds old component (perm[i], perm[j], ...): real where that one was
    lookup = {(c.field, c.index): k for k, c in enumerate(layout.channels[:n_var])}
    source = [lookup[(c.field, tuple(perm[i] for i in c.index))] for c in layout.channels[:n_var]]
    padded = batch.padded_mask[torch.tensor(source, device=batch.padded_mask.device)]
    inside = None if batch.inside_mask is None else augment.move_grid(batch.inside_mask, rotation)
    return replace(batch, x=x, future=future, bcs=bcs, padded_mask=padded, inside_mask=inside)
