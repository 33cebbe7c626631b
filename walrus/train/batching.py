"""From Well-format samples to the network's tensors, as the release's formatter does.

2-D data is lifted to 3-D: a singleton third axis (periodic), and every vector/tensor field gets
its components along the new axis as zero channels with their own vocabulary ids (e.g.
`velocity_z`), flagged False in `padded_mask` so that the loss forces them to zero.
Constant fields follow the time-varying ones, repeated over time.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch

from walrus.fields import FieldSet, component_suffixes, default_fieldset, lifted_axes
from walrus.model.patching import PERIODIC

MODEL_AXES = 3


@dataclass(frozen=True)
class ChannelLayout:
    """Where each lifted channel comes from: index into the sample's channels, or -1 for padding."""

    names: tuple[str, ...]            # lifted channel names, time-varying then constant
    field_ids: tuple[int, ...]
    source: tuple[int, ...]           # per time-varying lifted channel: sample channel or -1
    constant_source: tuple[int, ...]  # per constant lifted channel: sample channel or -1
    n_spatial_dims: int
    fields: tuple[str, ...] = ()      # per lifted channel: the field it is a component of
    indices: tuple[tuple[int, ...], ...] = ()  # per lifted channel: its tensor indices (axis numbers)
    value_transforms: tuple = ()      # per lifted channel: None, or the plugin transform of its field

    @property
    def n_variable(self) -> int:
        return len(self.source)

    @property
    def padded_mask(self) -> torch.Tensor:
        """True for real components of the time-varying channels, False for lifted zeros."""
        return torch.tensor([s >= 0 for s in self.source])


def channel_layout(dataset, fieldset: FieldSet | None = None, transforms: dict | None = None) -> ChannelLayout:
    """Channel layout of a `WellWindowDataset` (its first file's fields and axes).

    `transforms` maps a stored field name to the plugin `FieldSpec` the model sees instead (a
    dataset's declared transforms, e.g. acoustic `density` -> `zeros_like_density`, or
    `density` -> `log10_density` by log10): its vocabulary slot is used and its values transformed.
    """
    fieldset = fieldset or default_fieldset()
    transforms = transforms or {}
    info = dataset.files[0]
    axes = tuple(info.axes)
    full_axes = lifted_axes(axes, MODEL_AXES)
    fields, indices, value_transforms = [], [], []

    def lift(time_varying: bool):
        names, source, offset = [], [], 0
        for _, name, rank, _, tv, _ in info.fields:
            if tv != time_varying:
                continue
            stored = {s: offset + i for i, s in enumerate(component_suffixes(rank, axes))}
            offset += len(stored)
            target = transforms.get(name)
            model_name = (target.vocabulary or target.name) if target is not None else name
            for combo in itertools.product(range(MODEL_AXES), repeat=rank):
                suffix = "".join(full_axes[a] for a in combo)
                names.append(f"{model_name}_{suffix}" if suffix else model_name)
                source.append(stored.get(suffix, -1))
                fields.append(name)
                indices.append(combo)
                value_transforms.append(target if target is not None and target.transform != "identity" else None)
        return names, source

    var_names, var_source = lift(True)
    const_names, const_source = lift(False)
    names = tuple(var_names + const_names)
    return ChannelLayout(names, tuple(fieldset.id(n) for n in names), tuple(var_source), tuple(const_source),
                         len(axes), tuple(fields), tuple(indices), tuple(value_transforms))


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

    def to(self, device) -> "Batch":
        return Batch(self.x.to(device), self.future.to(device), self.field_ids.to(device), self.bcs,
                     self.padded_mask.to(device), self.n_variable, self.dataset)


def _gather(channels_last: torch.Tensor, source: tuple[int, ...], transforms: tuple = ()) -> torch.Tensor:
    """Pick channels by index, zeros where the index is -1, applying per-channel field transforms."""
    index = torch.tensor([max(s, 0) for s in source])
    out = channels_last.index_select(-1, index)
    keep = torch.tensor([s >= 0 for s in source], dtype=out.dtype)
    out = out * keep
    for c, spec in enumerate(transforms[: len(source)]):
        if spec is not None:
            out[..., c] = torch.as_tensor(spec.forward(out[..., c].numpy()), dtype=out.dtype)
    return out


def collate(samples: list[dict], layout: ChannelLayout, dataset: str = "") -> Batch:
    """Stack Well samples (channels last, (T, *space, C)) into a `Batch` (channels first, 3-D)."""
    n_lift = MODEL_AXES - layout.n_spatial_dims

    def lift(t: torch.Tensor) -> torch.Tensor:  # (B, T, *space, C) -> (T, B, C, H, W, D)
        for _ in range(n_lift):
            t = t.unsqueeze(-2)
        return t.movedim(-1, 2).movedim(1, 0).contiguous()

    var_tf = layout.value_transforms[: layout.n_variable]
    const_tf = layout.value_transforms[layout.n_variable:]
    inputs = torch.stack([_gather(s["input_fields"], layout.source, var_tf) for s in samples]).float()
    outputs = torch.stack([_gather(s["output_fields"], layout.source, var_tf) for s in samples]).float()
    x = lift(inputs)
    if layout.constant_source:
        const = torch.stack([_gather(s["constant_fields"], layout.constant_source, const_tf)
                             for s in samples]).float()
        const = lift(const.unsqueeze(1)).expand(x.shape[0], -1, -1, *x.shape[3:])
        x = torch.cat([x, const], dim=2)
    bcs = torch.stack([torch.as_tensor(s["boundary_conditions"], dtype=torch.long) for s in samples])
    if n_lift:
        bcs = torch.cat([bcs, torch.full((bcs.shape[0], n_lift, 2), PERIODIC, dtype=torch.long)], dim=1)
    return Batch(x, lift(outputs), torch.tensor(layout.field_ids), bcs, layout.padded_mask, layout.n_variable, dataset)
