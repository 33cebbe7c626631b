"""The channel layout: which network channel carries which component of which field, and back.

Every way into the network goes through this module: training batches built from Well samples,
``State`` at inference (and with it the Surrogate, its streaming mode and the solver adapters),
and the trainer's rotations. So a field reaches the same channel and the same vocabulary slot
whichever way it comes in.

A field travels:
  stored name and components on the data's axes
  -> the dataset's declared transform, if any (acoustic ``density`` is shown to the model as
     ``zeros_like_density``; ``density`` -> ``log10_density`` also takes log10 of the values)
  -> components on the three lifted axes (``velocity_z`` of 2-D data is a zero "padded" channel)
  -> vocabulary slots, looked up in the *model's own* vocabulary (``model.config.field_names``)
     after resolving plugin aliases. Never in the process's plugin state: a checkpoint with an
     extended vocabulary reads the columns it was trained with, whatever plugins are loaded.
  -> channels first, time first: ``(T, B, C, H, W, D)``, time-varying channels then constants.

Stored channels are channels-last, each field's components row-major over the data's axes
(The Well's flattening); time-varying and constant fields are numbered separately.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import torch

from walrus.boundaries import PERIODIC
from walrus.errors import FieldError, ShapeError
from walrus.fields import FieldSet, component_names, lifted_axes

__all__ = ["MODEL_DIMS", "MASK_FIELD", "LayoutField", "Channel", "ChannelLayout", "build_layout"]

MODEL_DIMS = 3  # the network always sees three spatial axes (ARCHITECTURE.md §1, step 1)
MASK_FIELD = "mask"  # a constant field marking solid obstacles; the release zeroes predictions inside it

_FORWARD = {"identity": lambda t: t, "log10": torch.log10}
_INVERSE = {"identity": lambda t: t, "log10": lambda t: torch.pow(10.0, t)}


@dataclass(frozen=True)
class LayoutField:
    """One stored field: its name and rank, whether it is constant in time, and what the model sees."""

    name: str
    rank: int
    constant: bool
    model_field: str        # the field whose slots it uses (the transform's target, else itself)
    transform: str = "identity"


@dataclass(frozen=True)
class Channel:
    """One network channel: a component of a stored field on the lifted axes."""

    field: str                 # stored field name
    component: str             # the vocabulary component whose slot it uses (e.g. "velocity_z")
    index: tuple[int, ...]     # tensor indices, numbering the lifted axes 0, 1, 2
    source: int                # stored channel it comes from (within its kind), -1 for a padded zero
    vocab_id: int
    constant: bool
    transform: str = "identity"

    @property
    def real(self) -> bool:
        return self.source >= 0


@dataclass(frozen=True)
class ChannelLayout:
    """The channels of one set of fields on one kind of grid, for one model vocabulary."""

    axes: tuple[str, ...]
    fields: tuple[LayoutField, ...]
    channels: tuple[Channel, ...]

    # ------------------------------------------------------------------ description
    @property
    def n_spatial_dims(self) -> int:
        return len(self.axes)

    @property
    def n_variable(self) -> int:
        return sum(not c.constant for c in self.channels)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.component for c in self.channels)

    @property
    def field_ids(self) -> tuple[int, ...]:
        return tuple(c.vocab_id for c in self.channels)

    @property
    def real(self) -> tuple[bool, ...]:
        """Per channel: a component the data has (False for the zeros added by lifting)."""
        return tuple(c.real for c in self.channels)

    @property
    def padded_mask(self) -> torch.Tensor:
        """The release's per-variable-channel mask: True on real components, False on lifted zeros."""
        return torch.tensor(self.real[: self.n_variable], dtype=torch.bool)

    def stored_channels(self, constant: bool) -> int:
        D = self.n_spatial_dims
        return sum(D ** f.rank for f in self.fields if f.constant == constant)

    def field_channels(self, name: str, constant: bool | None = None) -> list[int]:
        """Indices of a stored field's channels, in tensor-index (row-major, lifted) order."""
        return [i for i, c in enumerate(self.channels) if c.field == name and constant in (None, c.constant)]

    @property
    def mask_channel(self) -> int | None:
        """Index of the constant channel holding the obstacle mask, if the data has one."""
        for i, c in enumerate(self.channels):
            if c.constant and c.component == MASK_FIELD:
                return i
        return None

    # ------------------------------------------------------------------ stored -> network
    def _select(self, stored: torch.Tensor, constant: bool) -> torch.Tensor:
        """(..., C_stored) channels-last -> (..., C_model) with zeros on padded channels, transformed."""
        chans = [c for c in self.channels if c.constant == constant]
        want = self.stored_channels(constant)
        if stored.shape[-1] != want:
            kind = "constant" if constant else "time-varying"
            raise ShapeError(f"wrong number of {kind} channels", field=", ".join(
                f.name for f in self.fields if f.constant == constant) or kind,
                expected=f"{want} stored channels", received=f"{stored.shape[-1]} (shape {tuple(stored.shape)})")
        if not chans:
            return stored[..., :0]
        index = torch.tensor([max(c.source, 0) for c in chans], device=stored.device)
        out = stored.index_select(-1, index)
        keep = torch.tensor([c.real for c in chans], dtype=out.dtype, device=out.device)
        out = out * keep
        for k, c in enumerate(chans):
            if c.transform != "identity" and c.real:
                out[..., k] = _FORWARD[c.transform](out[..., k])
        return out

    def _lift(self, t: torch.Tensor) -> torch.Tensor:
        """(B, T, *spatial, C) -> (T, B, C, H, W, D): singleton lifted axes, channels first."""
        for _ in range(MODEL_DIMS - self.n_spatial_dims):
            t = t.unsqueeze(-2)
        return t.movedim(-1, 2).movedim(1, 0).contiguous()

    def to_network(self, variable: torch.Tensor, constant: torch.Tensor | None = None) -> torch.Tensor:
        """Network input x (T, B, C, H, W, D) from stored channels-last tensors.

        ``variable`` is (B, T, *spatial, C_stored_var); ``constant`` is (B, *spatial, C_stored_const)
        (repeated over T, after the time-varying channels), or None when there are no constants.
        """
        x = self._lift(self._select(variable, constant=False))
        n_const = self.stored_channels(constant=True)
        if n_const:
            if constant is None:
                raise ShapeError("constant fields missing", field=", ".join(f.name for f in self.fields if f.constant),
                                 expected=f"{n_const} constant channels", received="none")
            const = self._lift(self._select(constant, constant=True).unsqueeze(1))
            x = torch.cat([x, const.expand(x.shape[0], *const.shape[1:])], dim=2)
        return x

    def boundaries(self, bcs: torch.Tensor) -> torch.Tensor:
        """(B, D, 2) codes of the data's axes -> (B, 3, 2), the lifted axes PERIODIC as in the release."""
        bcs = torch.as_tensor(bcs, dtype=torch.long)
        n_lift = MODEL_DIMS - self.n_spatial_dims
        if n_lift:
            pad = torch.full((bcs.shape[0], n_lift, 2), PERIODIC, dtype=torch.long, device=bcs.device)
            bcs = torch.cat([bcs, pad], dim=1)
        return bcs

    def inside_mask(self, x: torch.Tensor) -> torch.Tensor | None:
        """(B, H, W, D) bool, True inside obstacles, from the constant mask channel of x (T, B, C, ...)."""
        c = self.mask_channel
        return None if c is None else x[0, :, c] != 0

    # ------------------------------------------------------------------ network -> stored
    def from_network(self, y: torch.Tensor) -> torch.Tensor:
        """(..., C_var, H, W, D) model-space channels -> (..., *spatial, C_stored_var) stored channels.

        Padded channels are dropped and transforms inverted (10**y for a log10 field).
        """
        n_var = self.n_variable
        lifted = y.shape[-MODEL_DIMS:]
        if y.ndim < 1 + MODEL_DIMS or y.shape[-1 - MODEL_DIMS] < n_var:
            raise ShapeError("model tensor does not fit this layout", field="x",
                             expected=f"(..., >= {n_var}, H, W, D)", received=tuple(y.shape))
        spatial = lifted[: self.n_spatial_dims]
        if any(n != 1 for n in lifted[self.n_spatial_dims:]):
            raise ShapeError("lifted axes must be singletons", field="x",
                             expected=f"(..., C, {', '.join(map(str, spatial))}{', 1' * (MODEL_DIMS - len(spatial))})",
                             received=tuple(y.shape))
        y = y.reshape(*y.shape[: -MODEL_DIMS], *spatial).movedim(-1 - self.n_spatial_dims, -1)
        stored = [None] * self.stored_channels(constant=False)
        for k, c in enumerate(self.channels[:n_var]):
            if c.real:
                stored[c.source] = _INVERSE[c.transform](y[..., k])
        return torch.stack(stored, dim=-1)


def build_layout(fields: Sequence[tuple[str, int, bool]], axes: Sequence[str], vocabulary: Sequence[str], *,
                 fieldset: FieldSet | None = None, transforms: Mapping[str, str] | None = None,
                 registry=None) -> ChannelLayout:
    """The layout of ``fields`` ((name, rank, constant) in stored order) on ``axes`` for a model
    whose vocabulary (component names by slot) is ``vocabulary``.

    ``transforms`` maps a stored field to the field the model sees instead (a dataset's declared
    transforms); the transform function comes from that field's plugin declaration. Aliases
    (a plugin field sharing a release field's slots) are resolved through ``fieldset``. A
    component the vocabulary lacks raises a FieldError naming the field and what the model knows.
    """
    if registry is None and (fieldset is None or transforms):
        from walrus.plugins import get_registry

        registry = get_registry()
    fieldset = fieldset if fieldset is not None else registry.fieldset
    transforms = dict(transforms or {})
    slots = {name: i for i, name in enumerate(vocabulary)}
    axes = tuple(axes)
    D = len(axes)
    model_axes = lifted_axes(axes, MODEL_DIMS)
    ordered = [f for f in fields if not f[2]] + [f for f in fields if f[2]]
    layout_fields, channels = [], []
    offsets = {False: 0, True: 0}
    for name, rank, constant in ordered:
        target, kind = name, "identity"
        if name in transforms:
            target = transforms[name]
            spec = registry.fields.get(target) if registry is not None else None
            if spec is None:
                raise FieldError("transform target is not a registered field", field=name,
                                 expected="a field declared by a plugin", received=repr(target))
            if spec.rank != rank:
                raise FieldError("transform changes the tensor rank", field=name, expected=f"rank {rank}",
                                 received=f"{target!r} of rank {spec.rank}")
            kind = spec.transform
        layout_fields.append(LayoutField(name, rank, constant, target, kind))
        comps = component_names(target, rank, model_axes)
        for combo, comp in zip(itertools.product(range(MODEL_DIMS), repeat=rank), comps):
            slot = fieldset.slot_name(comp)
            if slot not in slots:
                known = ", ".join(list(vocabulary)[3:])
                raise FieldError("not in the model's vocabulary", field=name,
                                 expected=f"components the checkpoint knows ({len(vocabulary)} slots: {known})",
                                 received=repr(slot) + (f" (for {comp!r})" if slot != comp else ""),
                                 hint="fine-tune with new_fields=[...] to give it a slot")
            real = all(i < D for i in combo)
            source = offsets[constant] + int(np.ravel_multi_index(combo, (D,) * rank)) if real and rank else \
                (offsets[constant] if real else -1)
            channels.append(Channel(name, slot, combo, source, slots[slot], constant, kind))
        offsets[constant] += D ** rank
    return ChannelLayout(axes, tuple(layout_fields), tuple(channels))
