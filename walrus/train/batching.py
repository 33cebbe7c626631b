"""From Well-format samples to the network's tensors, through the one channel layout (walrus.layout).

A dataset's channel layout comes from its first file's fields and axes, the model's vocabulary
and the dataset's declared transforms; `State.to_model_inputs` builds the same layout from a
State, so training and inference put every field in the same channels and slots.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Mapping, Sequence

import torch

from walrus.layout import ChannelLayout, build_layout


def dataset_layout(dataset, vocabulary: Sequence[str], transforms: Mapping[str, str] | None = None,
                   registry=None) -> ChannelLayout:
    """Channel layout of a `WellWindowDataset` (its first file's fields and axes) for a model
    vocabulary; `transforms` are the dataset's declared ones (stored field -> model field)."""
    info = dataset.files[0]
    fields = [(name, rank, not tv) for _, name, rank, _, tv, _ in info.fields]
    return build_layout(fields, info.axes, vocabulary, transforms=transforms, registry=registry)


@dataclass
class Batch:
    """One micro-batch in the network's layout."""

    x: torch.Tensor              # (T_in, B, C, H, W, D): time-varying channels then constants
    future: torch.Tensor         # (T_out, B, C_var, H, W, D): the frames after the input window
    field_ids: torch.Tensor      # (C,)
    bcs: torch.Tensor            # (B, 3, 2)
    padded_mask: torch.Tensor    # (C_var,) False on lifted zero components
    n_variable: int
    dataset: str = ""
    inside_mask: torch.Tensor | None = None  # (B, H, W, D) True inside obstacles (a constant `mask` field)

    def to(self, device) -> "Batch":
        return replace(self, x=self.x.to(device), future=self.future.to(device), field_ids=self.field_ids.to(device),
                       padded_mask=self.padded_mask.to(device),
                       inside_mask=None if self.inside_mask is None else self.inside_mask.to(device))


def collate(samples: list[dict], layout: ChannelLayout, dataset: str = "") -> Batch:
    """Stack Well samples (channels last, (T, *space, C)) into a `Batch` (channels first, 3-D)."""
    inputs = torch.stack([s["input_fields"] for s in samples]).float()
    outputs = torch.stack([s["output_fields"] for s in samples]).float()
    constant = torch.stack([s["constant_fields"] for s in samples]).float() if "constant_fields" in samples[0] else None
    x = layout.to_network(inputs, constant)
    future = layout.to_network(outputs, constant)[:, :, : layout.n_variable]
    bcs = layout.boundaries(torch.stack([torch.as_tensor(s["boundary_conditions"], dtype=torch.long) for s in samples]))
    return Batch(x, future, torch.tensor(layout.field_ids), bcs, layout.padded_mask, layout.n_variable, dataset,
                 layout.inside_mask(x))
