"""State: the one object a solver hands to the surrogate.

A State is one trajectory's recent history: time-varying fields by name (with units), the times
of the frames, grid coordinates, the boundary condition of each axis side, constant fields and
scalar parameters. It is checked on construction, so a wrong rank, a unit of the wrong
dimension, a NaN, an unknown boundary name or a shape mismatch fails here, naming the field,
what was expected and what was received, instead of giving a silently wrong prediction.

Array layout (The Well's per-trajectory layout, channels last):
  fields           (T, *spatial)            scalar, (T, *spatial, D) vector, (T, *spatial, D, D) tensor
  constant_fields  (*spatial[, D[, D]])
with the spatial axes in ``coords`` order and D = number of axes.

It converts to and from an ``xarray.Dataset`` (walrus's layout, see :mod:`walrus.io.schema`) and to
and from the network's tensors (:meth:`State.to_model_inputs`, :meth:`State.from_model_tensor`).
"""

from __future__ import annotations

from dataclasses import dataclass, field as dc_field, replace
from typing import Mapping, Sequence

import warnings

import numpy as np
import torch

from walrus.boundaries import BOUNDARY_NAMES, format_axis, parse_boundaries
from walrus.errors import FieldError, ShapeError, UnitError
from walrus.fields import FieldSet
from walrus.layout import MODEL_DIMS, ChannelLayout, build_layout
from walrus.units import check_compatible, conversion, format_units, parse_units, same_units

__all__ = ["State", "ModelInputs", "stack_model_inputs"]


def _is_quantity(a) -> bool:
    """A pint Quantity of any registry (duck-typed: magnitude, units and .to)."""
    return hasattr(a, "magnitude") and hasattr(a, "units") and hasattr(a, "to") and not isinstance(a, type)


def _unwrap(a):
    """An xarray DataArray's data (a pint Quantity for a quantified one), anything else unchanged."""
    if type(a).__name__ == "DataArray" and hasattr(a, "data") and hasattr(a, "dims"):
        return a.data
    return a


def _split_quantity(name: str, a, units: dict[str, str]):
    """The magnitude of a pint Quantity, recording its units in ``units[name]`` (in CF spelling); a
    conflict with units given in ``units=`` is refused. Non-quantities pass through."""
    a = _unwrap(a)
    if not _is_quantity(a):
        return a
    q_units = format_units(str(a.units), field=name)
    given = units.get(name)
    if given is not None and not same_units(given, q_units):
        raise UnitError("units given twice and differently", field=name,
                        expected=f"units={{{name!r}: {given!r}}} to agree with the Quantity's units",
                        received=f"a Quantity in '{q_units}'")
    units[name] = q_units
    return a.magnitude


def _array(name: str, a) -> np.ndarray:
    a = _unwrap(a)
    if _is_quantity(a):
        raise UnitError("a pint Quantity where plain numbers are expected", field=name,
                        expected="a plain array (units go to State(units=...))", received=f"a Quantity in {a.units}")
    if isinstance(a, torch.Tensor):
        if a.is_complex() or a.dtype == torch.bool:
            raise ShapeError("not a real-valued array", field=name, expected="a float array",
                             received=f"dtype {a.dtype}")
        a = a.detach().cpu()
        a = (a.double() if a.dtype == torch.bfloat16 else a).numpy()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            a = np.asarray(a)
    except Exception as exc:
        raise ShapeError("not an array", field=name, expected="a numeric array", received=type(a).__name__) from exc
    if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)) or a.dtype == bool:
        raise ShapeError("not a real-valued array", field=name, expected="a float array", received=f"dtype {a.dtype}")
    if a.dtype not in (np.float32, np.float64):  # ints, float16, longdouble: torch and pint handle float64
        with np.errstate(over="ignore", invalid="ignore"):
            a = a.astype(np.float64)
    bad = ~np.isfinite(a)
    if bad.any():
        n_nan = int(np.isnan(a).sum())
        raise ShapeError("contains non-finite values", field=name, expected="finite numbers",
                         received=f"{n_nan} NaN and {int(bad.sum()) - n_nan} infinite of {a.size} values")
    return a


def _dimensionless(units: str) -> bool:
    return parse_units(units).dimensionless


def _check_range(name: str, a: np.ndarray, dtype: torch.dtype) -> None:
    """Refuse values the model's float dtype cannot hold (they would become inf without an error)."""
    if not a.size or not torch.empty((), dtype=dtype).is_floating_point():
        return
    limit = torch.finfo(dtype).max
    with np.errstate(over="ignore", invalid="ignore"):
        big = float(np.max(np.abs(a)))
    if not np.isfinite(big) or big > limit:
        raise ShapeError(f"exceeds {str(dtype).replace('torch.', '')} range", field=name,
                         expected=f"|values| <= {limit:.3g} in the model's units",
                         received=f"max |value| {big:.3g}")


@dataclass(frozen=True)
class ModelInputs:
    """What the network takes, plus the layout that maps its output back.

    ``x`` (T, B, C, H, W, D) float; ``field_ids`` LongTensor (C,) slots in the model's vocabulary;
    ``bcs`` LongTensor (B, 3, 2) codes; ``padded_field_mask`` BoolTensor (C_var,), False on
    components added by lifting to 3-D; ``inside_mask`` (B, H, W, D) True inside obstacles (from a
    constant ``mask`` field), or None.
    """

    x: torch.Tensor
    field_ids: torch.Tensor
    bcs: torch.Tensor
    padded_field_mask: torch.Tensor
    layout: ChannelLayout
    inside_mask: torch.Tensor | None = None

    @property
    def channel_names(self) -> tuple[str, ...]:
        return self.layout.names

    @property
    def n_variable(self) -> int:
        return self.layout.n_variable

    @property
    def n_constant(self) -> int:
        return len(self.layout.channels) - self.n_variable


@dataclass(frozen=True)
class State:
    """A trajectory's recent history on a grid, with units and boundary conditions (see module doc)."""

    fields: Mapping[str, np.ndarray]
    time: np.ndarray
    coords: Mapping[str, np.ndarray]
    boundaries: Mapping[str, object]
    constant_fields: Mapping[str, np.ndarray] = dc_field(default_factory=dict)
    parameters: Mapping[str, float] = dc_field(default_factory=dict)
    units: Mapping[str, str] = dc_field(default_factory=dict)
    fieldset: FieldSet | None = dc_field(default=None, repr=False, compare=False)

    # ---------------------------------------------------------------- validation
    def __post_init__(self):
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731  (frozen dataclass)
        if self.fieldset is None:  # the release's fields plus every registered plugin's
            from walrus.plugins import fieldset
            set_("fieldset", fieldset())
        fs = self.fieldset
        if not isinstance(fs, FieldSet):
            raise FieldError("not a FieldSet", field="fieldset", expected="a walrus.fields.FieldSet or None",
                             received=type(fs).__name__)
        for arg in ("fields", "constant_fields", "parameters", "units"):
            if not isinstance(getattr(self, arg), Mapping):
                raise ShapeError(f"{arg} must be a mapping by name", field=arg, expected="a dict",
                                 received=type(getattr(self, arg)).__name__)
        if not isinstance(self.coords, Mapping) or not 1 <= len(self.coords) <= 3:
            raise ShapeError("coords must map 1 to 3 axis names to 1-D coordinates", field="coords",
                             expected="e.g. {'x': x, 'y': y}", received=repr(self.coords)[:80])
        units: dict[str, str] = {}
        for name, u in dict(self.units).items():
            units[str(name)] = format_units(parse_units(u, field=str(name)), field=str(name))
        coords = {str(a): _array(str(a), _split_quantity(str(a), c, units)) for a, c in self.coords.items()}
        for a, c in coords.items():
            if c.ndim != 1 or c.size == 0:
                raise ShapeError("coordinate must be 1-D and non-empty", field=a, expected="shape (N,)",
                                 received=f"shape {c.shape}")
        axes = tuple(coords)
        D, spatial = len(axes), tuple(c.size for c in coords.values())
        time = _array("time", _split_quantity("time", self.time, units))
        if time.ndim == 0:
            time = time[None]
        if time.ndim != 1:
            raise ShapeError("time must be 1-D", field="time", expected="shape (T,)", received=f"shape {time.shape}")
        if time.size == 0:
            raise ShapeError("no frames", field="time", expected="at least one time (T >= 1)", received="T = 0")
        if time.size > 1 and not np.all(np.diff(time) > 0):
            raise ShapeError("times must increase", field="time", expected="strictly increasing times",
                             received=time.tolist())
        T = time.size
        if not self.fields:
            raise FieldError("no time-varying fields", field="fields", expected="at least one field",
                             received="an empty mapping")
        bcs = parse_boundaries(self.boundaries, axes)
        # time in units of time and coordinates in units of length (either may be dimensionless: a
        # non-dimensionalised simulation); the time of a time-dimension axis would be a silent mix-up
        if "time" in units and not _dimensionless(units["time"]):
            check_compatible(units["time"], "s", field="time")
        for a in axes:
            if a in units and not _dimensionless(units[a]):
                check_compatible(units[a], "m", field=a)

        def check(name: str, a, lead: tuple[int, ...]) -> np.ndarray:
            if name not in fs:
                raise FieldError("unknown field", field=name, expected=f"a registered field, e.g. {list(fs.fields)[:6]}",
                                 received=repr(name), hint="declare it in a plugin (walrus.plugins.register) or pass State(fieldset=...)")
            a = _array(name, _split_quantity(name, a, units))
            rank = fs[name].rank
            want = lead + spatial + (D,) * rank
            if a.ndim != len(want):
                got_rank = a.ndim - len(lead) - D
                raise FieldError("wrong tensor rank", field=name,
                                 expected=f"rank {rank}, shape {want}",
                                 received=f"shape {a.shape}" + (f" (rank {got_rank})" if got_rank in (0, 1, 2) else ""))
            if a.shape != want:
                raise ShapeError("shape mismatch", field=name,
                                 expected=f"{want} = ({'T, ' if lead else ''}{', '.join(axes)}{', D' * rank})",
                                 received=a.shape)
            if name in units:
                check_compatible(units[name], fs[name].units, field=name)
            return a

        fields = {str(k): check(str(k), v, (T,)) for k, v in self.fields.items()}
        consts = {}
        for k, v in dict(self.constant_fields).items():
            if k in fields:
                raise FieldError("both time-varying and constant", field=k, expected="one definition", received="two")
            consts[str(k)] = check(str(k), v, ())
        params = {}
        for k, v in dict(self.parameters).items():
            p = _array(str(k), _split_quantity(str(k), v, units))
            if p.size != 1:
                raise ShapeError("parameter must be a single number", field=k, expected="shape ()",
                                 received=f"shape {p.shape}")
            params[str(k)] = float(p.reshape(()))
        known = set(fields) | set(consts) | set(params) | set(axes) | {"time"}
        for name in units:
            if name not in known:
                raise FieldError("units given for an unknown name", field=name, expected=f"one of {sorted(known)}",
                                 received=repr(name))
        set_("coords", coords)
        set_("time", time)
        set_("fields", fields)
        set_("constant_fields", consts)
        set_("parameters", params)
        set_("boundaries", bcs)
        set_("units", units)

    # ---------------------------------------------------------------- basic properties
    @property
    def axes(self) -> tuple[str, ...]:
        return tuple(self.coords)

    @property
    def n_dims(self) -> int:
        return len(self.coords)

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        return tuple(c.size for c in self.coords.values())

    @property
    def n_steps(self) -> int:
        return int(self.time.size)

    def require(self, fields: Sequence[str] = (), constant_fields: Sequence[str] = (),
                parameters: Sequence[str] = ()) -> "State":
        """Raise FieldError naming the first missing field/constant/parameter; returns self for chaining."""
        for names, store, kind in ((fields, self.fields, "time-varying field"),
                                   (constant_fields, self.constant_fields, "constant field"),
                                   (parameters, self.parameters, "parameter")):
            for name in names:
                if name not in store:
                    raise FieldError(f"missing {kind}", field=name, expected=f"{kind}s {list(names)}",
                                     received=f"{list(store)}")
        return self

    def units_of(self, name: str) -> str:
        """Units of a field/axis/parameter: as given, else the field's canonical units, else '1'."""
        if name in self.units:
            return self.units[name]
        return self.fieldset[name].units if name in self.fieldset else "1"

    def _ordered(self, fields: Mapping[str, np.ndarray]) -> list[str]:
        """The Well's channel order: rank 0, then 1, then 2, each in insertion order."""
        return sorted(fields, key=lambda n: self.fieldset[n].rank)  # sorted() is stable

    # ---------------------------------------------------------------- units
    def to_units(self, units: Mapping[str, str]) -> "State":
        """A new State with the named fields/constants/parameters/axes/time converted."""
        new_units = dict(self.units)
        fields, consts, params = dict(self.fields), dict(self.constant_fields), dict(self.parameters)
        coords, time = dict(self.coords), self.time
        for name, target in units.items():
            src = self.units.get(name)
            if src is None:
                raise UnitError("no units to convert from", field=name,
                                expected=f"units compatible with '{format_units(target)}'", received="none given")
            for store in (fields, consts, coords):
                if name in store:
                    store[name] = conversion(store[name], src, target, field=name)
                    break
            else:
                if name in params:
                    params[name] = float(conversion(np.float64(params[name]), src, target, field=name))
                elif name == "time":
                    time = conversion(time, src, target, field=name)
            new_units[name] = format_units(target)
        return replace(self, fields=fields, constant_fields=consts, parameters=params, coords=coords, time=time,
                       units=new_units)

    def to_model_units(self) -> "State":
        """Convert every field that has units to its canonical units (the units the model expects)."""
        targets = {n: self.fieldset[n].units for n in [*self.fields, *self.constant_fields]
                   if n in self.units and self.units[n] != self.fieldset[n].units}
        return self.to_units(targets) if targets else self

    # ---------------------------------------------------------------- xarray
    def to_dataset(self):
        """An ``xarray.Dataset`` in walrus's layout (no sample dim), units as CF attributes."""
        import xarray as xr
        from walrus.io.schema import COMPONENT_DIMS, TIME_DIM

        def attrs(name):
            return {"units": self.units[name]} if name in self.units else {}

        coords = {TIME_DIM: ((TIME_DIM,), self.time, attrs("time"))}
        for a, c in self.coords.items():
            coords[a] = ((a,), c, attrs(a))
        data = {}
        max_rank = 0
        for store, lead in ((self.fields, (TIME_DIM,)), (self.constant_fields, ())):
            for name in self._ordered(store):
                r = self.fieldset[name].rank
                max_rank = max(max_rank, r)
                data[name] = (lead + self.axes + COMPONENT_DIMS[:r], store[name], attrs(name))
        for name, v in self.parameters.items():
            data[name] = ((), np.float64(v), attrs(name))
        for cdim in COMPONENT_DIMS[:max_rank]:
            coords[cdim] = ((cdim,), np.array(self.axes, dtype=object))
        ds_attrs = {"spatial_dims": " ".join(self.axes)}
        ds_attrs.update({f"bc_{a}": format_axis(c) for a, c in self.boundaries.items()})
        return xr.Dataset(data, coords=coords, attrs=ds_attrs)

    @classmethod
    def from_dataset(cls, ds, *, sample: int | None = None, fieldset: FieldSet | None = None,
                     boundaries: Mapping[str, object] | None = None) -> "State":
        """Build a State from a walrus-layout Dataset (e.g. :func:`walrus.io.read_well_file`).

        A ``sample`` dim of size 1 is dropped; larger ones need ``sample=``. Boundary conditions
        come from the ``bc_<axis>`` attributes unless ``boundaries`` is given.
        """
        from walrus.io.schema import COMPONENT_DIMS, SAMPLE_DIM, TIME_DIM, dataset_axes
        from walrus.io.xr import dequantify
        ds = dequantify(ds)
        if SAMPLE_DIM in ds.dims:
            if sample is None:
                if ds.sizes[SAMPLE_DIM] != 1:
                    raise ShapeError("several trajectories; choose one", field=SAMPLE_DIM,
                                     expected="sample=<index> or a sample dim of size 1",
                                     received=f"{ds.sizes[SAMPLE_DIM]} trajectories")
                sample = 0
            ds = ds.isel({SAMPLE_DIM: sample})
        axes = dataset_axes(ds)
        if boundaries is None:
            boundaries = {a: ds.attrs[f"bc_{a}"] for a in axes if f"bc_{a}" in ds.attrs}
        if TIME_DIM not in ds.coords:
            raise ShapeError("no time coordinate", field="time", expected="a 'time' coordinate",
                             received=f"coords {list(ds.coords)}")
        units = {str(k): str(v.attrs["units"]) for k, v in ds.variables.items()
                 if "units" in v.attrs and k not in COMPONENT_DIMS}
        fields, consts, params = {}, {}, {}
        for name, v in ds.data_vars.items():
            name = str(name)
            spatial = [a for a in axes if a in v.dims]
            if not spatial:
                if TIME_DIM in v.dims:
                    raise FieldError("time-varying scalars are not part of a State", field=name,
                                     expected="fields with spatial dims or 0-d parameters",
                                     received=f"dims {v.dims}", hint="drop it from the Dataset first")
                params[name] = v.values
                continue
            if len(spatial) != len(axes):
                raise ShapeError("field does not vary along every axis", field=name,
                                 expected=f"dims including {axes}", received=f"dims {v.dims}")
            order = ([TIME_DIM] if TIME_DIM in v.dims else []) + axes + [d for d in COMPONENT_DIMS if d in v.dims]
            extra = [d for d in v.dims if d not in order]
            if extra:
                raise ShapeError("unexpected dimension", field=name, expected=f"dims among {order}",
                                 received=f"dims {v.dims}")
            (fields if TIME_DIM in v.dims else consts)[name] = v.transpose(*order).values
        return cls(fields=fields, time=ds[TIME_DIM].values, coords={a: ds[a].values for a in axes},
                   boundaries=boundaries, constant_fields=consts, parameters=params, units=units,
                   fieldset=fieldset)

    # ---------------------------------------------------------------- model tensors
    def channel_layout(self, vocabulary: Sequence[str], transforms: Mapping[str, str] | None = None) -> ChannelLayout:
        """This State's channels for a model with ``vocabulary`` (``model.config.field_names``).

        ``transforms`` maps a field to the field the model sees instead (a dataset's declared
        transforms, e.g. acoustic ``density`` -> ``zeros_like_density``), as in training.
        """
        fields = [(n, self.fieldset[n].rank, False) for n in self._ordered(self.fields)]
        fields += [(n, self.fieldset[n].rank, True) for n in self._ordered(self.constant_fields)]
        return build_layout(fields, self.axes, vocabulary, fieldset=self.fieldset, transforms=transforms)

    def _stored(self, store: Mapping[str, np.ndarray], lead: int) -> np.ndarray:
        """Fields of one kind as stored channels-last (lead, *spatial, C), components row-major."""
        parts = [store[n].reshape(store[n].shape[: lead + self.n_dims] + (-1,)) for n in self._ordered(store)]
        return np.concatenate(parts, axis=-1)

    def to_model_inputs(self, vocabulary: Sequence[str], *, transforms: Mapping[str, str] | None = None,
                        dtype: torch.dtype = torch.float32, device=None) -> ModelInputs:
        """Tensors for a network with ``vocabulary``, after converting every field to its canonical units.

        x is (T, 1, C, H, W, D): time-varying components (Well order: scalars, vectors, tensors),
        then constant components repeated over T; 2-D/1-D data lifted to 3-D with zero padded
        components (e.g. ``velocity_z``) and PERIODIC added axes. See :mod:`walrus.layout`.
        """
        s = self.to_model_units()
        for store in (s.fields, s.constant_fields):
            for name, a in store.items():
                _check_range(name, a, dtype)
        layout = s.channel_layout(vocabulary, transforms)
        variable = torch.as_tensor(s._stored(s.fields, 1), dtype=dtype, device=device).unsqueeze(0)
        constant = None
        if s.constant_fields:
            constant = torch.as_tensor(s._stored(s.constant_fields, 0), dtype=dtype, device=device).unsqueeze(0)
        x = layout.to_network(variable, constant)
        bcs = layout.boundaries(torch.tensor([[list(s.boundaries[a]) for a in s.axes]], device=device))
        return ModelInputs(x=x, field_ids=torch.tensor(layout.field_ids, dtype=torch.long, device=device), bcs=bcs,
                           padded_field_mask=layout.padded_mask.to(device), layout=layout,
                           inside_mask=layout.inside_mask(x))

    def from_model_tensor(self, x: torch.Tensor, time: Sequence[float] | np.ndarray | None = None, *,
                          layout: ChannelLayout | None = None) -> "State":
        """A State whose time-varying fields are read back from model-layout channels.

        ``x`` is (T', C, H, W, D) or (T', 1, C, H, W, D) in model space, variable channels first
        (extra constant channels are ignored). ``layout`` is the one the inputs were built with
        (``ModelInputs.layout``), so transforms are inverted; without it the fields are read as
        untransformed. Values go back to this State's units; constants, parameters, grid and
        boundaries are kept. ``time`` defaults to the State's times when T' matches.
        """
        if not isinstance(x, torch.Tensor):
            raise ShapeError("not a tensor", field="x", expected="a torch.Tensor in model layout",
                             received=type(x).__name__)
        if x.ndim == 2 + MODEL_DIMS + 1:
            if x.shape[1] != 1:
                raise ShapeError("batched tensor", field="x", expected="batch size 1", received=f"shape {tuple(x.shape)}")
            x = x[:, 0]
        if layout is None:
            layout = self.channel_layout(self.fieldset.vocabulary)
        n_var = layout.n_variable
        lifted = self.spatial_shape + (1,) * (MODEL_DIMS - self.n_dims)
        if x.ndim != 1 + 1 + MODEL_DIMS or x.shape[1] < n_var or tuple(x.shape[2:]) != lifted:
            raise ShapeError("model tensor does not fit this State", field="x",
                             expected=f"(T, >= {n_var}, {', '.join(map(str, lifted))})", received=tuple(x.shape))
        a = layout.from_network(x.detach().cpu()[:, :n_var]).numpy()  # (T, *spatial, C_stored)
        T = a.shape[0]
        if time is None:
            if T != self.n_steps:
                raise ShapeError("times needed", field="time", expected=f"{T} times for {T} frames",
                                 received=f"none (this State has {self.n_steps})")
            time = self.time
        fields, c, D = {}, 0, self.n_dims
        for name in self._ordered(self.fields):
            r = self.fieldset[name].rank
            block = a[..., c:c + D ** r]
            c += D ** r
            block = block.reshape(block.shape[:-1] + (D,) * r) if r else block[..., 0]
            block = block.astype(self.fields[name].dtype, copy=False)
            if name in self.units:
                block = conversion(block, self.fieldset[name].units, self.units[name], field=name)
            fields[name] = block
        return replace(self, fields=fields, time=np.asarray(time, dtype=self.time.dtype))

    def push(self, frame: Mapping[str, np.ndarray], time: float, *, keep: int | None = None) -> "State":
        """Append one frame (every time-varying field, same units) at ``time``, keeping the last ``keep`` frames."""
        if not isinstance(frame, Mapping):
            raise FieldError("a frame maps field names to arrays", field="frame", expected="a dict",
                             received=type(frame).__name__)
        missing = [n for n in self.fields if n not in frame]
        if missing:
            raise FieldError("missing from the new frame", field=missing[0], expected=list(self.fields),
                             received=list(frame))
        t = _array("time", time)
        if t.size != 1:
            raise ShapeError("one time per frame", field="time", expected="a number", received=f"shape {t.shape}")
        if keep is not None and (isinstance(keep, bool) or not isinstance(keep, (int, np.integer)) or keep < 1):
            raise ShapeError("frames to keep", field="keep", expected="a positive int or None", received=repr(keep))
        keep = keep or self.n_steps
        fields = {}
        for n in self.fields:
            new = _array(n, frame[n])
            if new.shape != self.fields[n].shape[1:]:
                raise ShapeError("frame shape mismatch", field=n, expected=self.fields[n].shape[1:], received=new.shape)
            with np.errstate(over="ignore"):
                fields[n] = np.concatenate([self.fields[n], new[None].astype(self.fields[n].dtype)])[-keep:]
        return replace(self, fields=fields, time=np.append(self.time, t.reshape(()))[-keep:])

    def __repr__(self) -> str:
        bcs = ", ".join(f"{a}={BOUNDARY_NAMES[lo]}/{BOUNDARY_NAMES[hi]}" for a, (lo, hi) in self.boundaries.items())
        return (f"State(fields={list(self.fields)}, constants={list(self.constant_fields)}, "
                f"parameters={list(self.parameters)}, T={self.n_steps}, grid={dict(zip(self.axes, self.spatial_shape))}, "
                f"bcs=({bcs}))")


def stack_model_inputs(states: Sequence[State], vocabulary: Sequence[str], **kw) -> ModelInputs:
    """Batch several States with the same fields and grid into one ModelInputs (B = len(states))."""
    if not states:
        raise ShapeError("nothing to stack", field="states", expected="at least one State", received="none")
    parts = [s.to_model_inputs(vocabulary, **kw) for s in states]
    first = parts[0]
    for i, p in enumerate(parts[1:], 1):
        if p.channel_names != first.channel_names or p.x.shape != first.x.shape:
            raise ShapeError("States differ in fields or grid", field=f"states[{i}]",
                             expected=f"channels {first.channel_names}, shape {tuple(first.x.shape)}",
                             received=f"channels {p.channel_names}, shape {tuple(p.x.shape)}")
    inside = None if first.inside_mask is None else torch.cat([p.inside_mask for p in parts], dim=0)
    return replace(first, x=torch.cat([p.x for p in parts], dim=1), bcs=torch.cat([p.bcs for p in parts], dim=0),
                   inside_mask=inside)
