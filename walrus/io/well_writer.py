"""Write Well HDF5 files: from arrays (:func:`write_well_file`) or from a walrus-layout Dataset
(:func:`write_dataset`).

Files follow ``WELL_FORMAT.md`` (the schema The Well's loader and checker read), including the
points its own docs and dummy writer get wrong: ``time`` carries ``time_varying=True``; constant
scalars are 0-d; all three ``t*_fields`` groups exist; ``associated_dims`` is a list; boundary
masks are True on the boundary points; ``bc_type`` is upper case; no ``values`` dataset. Every
file is written to a temporary name and renamed, so a reader never sees half a file.

The Well has no units. walrus stores them as a CF ``units`` attribute on each dataset, which our
reader turns into xarray ``units`` attributes and The Well's loader ignores.

Boundary conditions name, per axis, a kind (``"WALL"``, ``"OPEN"``, ``"PERIODIC"``, a code, or a
``(low, high)`` pair of those) or a boundary a plugin registered (``"reflecting"``); the mask of
each boundary group is built by that boundary's :class:`~walrus.hooks.BoundarySpec` (``mask(n)``),
a bare kind using The Well's default (:func:`walrus.hooks.edge_mask`).
"""

from __future__ import annotations

from dataclasses import dataclass, field as dc_field
from pathlib import Path
from typing import Callable, Mapping, Sequence

import h5py
import numpy as np
import xarray as xr

from walrus.atomic import atomic_path
from walrus.boundaries import BOUNDARY_CODES, BOUNDARY_NAMES, parse_boundaries
from walrus.errors import BoundaryError, FieldError, ShapeError, WellFormatError
from walrus.hooks import edge_mask
from walrus.io.quantities import dequantify
from walrus.io.schema import (COMPONENT_DIMS, GRID_TYPES, GROUPS, ROOT_ATTRS, SAMPLE_DIM, TIME_DIM, dataset_axes,
                              dataset_boundaries)
from walrus.units import check_compatible, format_units, parse_units

__all__ = ["write_well_file", "write_dataset", "resolve_boundaries", "AxisBoundary"]

_STR = h5py.string_dtype()


# ---------------------------------------------------------------------------------------------
# boundary conditions -> Well boundary groups
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AxisBoundary:
    """One axis's boundary: a (low, high) code pair and the mask builder of each side."""

    codes: tuple[int, int]
    masks: tuple[Callable[[int], np.ndarray], Callable[[int], np.ndarray]]
    names: tuple[str, str]

    def groups(self, n: int, axis: str) -> dict[int, np.ndarray]:
        """Code -> bool mask of shape (n,), one entry per Well boundary group of this axis.

        Both sides the same boundary: its whole-axis mask. Otherwise each side contributes its
        own boundary's mask restricted to its half of the axis (so the default edge mask gives
        ``mask[0]`` for the low side and ``mask[n-1]`` for the high side), and sides of one kind
        share a group.
        """
        low, high = self.codes
        if low == high and self.names[0] == self.names[1]:
            return {low: _checked_mask(self.masks[0], n, axis, self.names[0], sides=(0, n - 1))}
        index = np.arange(n)
        halves = (index < (n + 1) // 2, index >= n // 2)
        out: dict[int, np.ndarray] = {}
        for side, (code, build, name) in enumerate(zip(self.codes, self.masks, self.names)):
            part = _checked_mask(build, n, axis, name, sides=((0,), (n - 1,))[side]) & halves[side]
            out[code] = out[code] | part if code in out else part
        return out


def _checked_mask(build, n: int, axis: str, name: str, sides) -> np.ndarray:
    try:
        mask = np.asarray(build(n))
    except Exception as exc:
        raise BoundaryError("boundary mask could not be built", field=f"axis {axis!r}",
                            expected=f"boundary {name!r}: mask({n}) -> bool array",
                            received=f"{type(exc).__name__}: {exc}") from exc
    if mask.shape != (n,) or not (mask.dtype == bool or np.issubdtype(mask.dtype, np.integer)):
        raise BoundaryError("boundary mask has the wrong shape or type", field=f"axis {axis!r}",
                            expected=f"boundary {name!r}: a bool array of shape ({n},)",
                            received=f"dtype {mask.dtype}, shape {mask.shape}")
    mask = mask.astype(bool)
    missing = [i for i in sides if not mask[i]]
    if missing:  # The Well's loader would read that side as OPEN, silently
        raise BoundaryError("boundary mask does not mark the boundary point", field=f"axis {axis!r}",
                            expected=f"boundary {name!r}: mask True at index {missing[0]}",
                            received=f"False there (mask {mask.astype(int).tolist()[:12]})")
    return mask


def _side(value, axis: str):
    """(kind spelling for walrus.boundaries, mask builder, name) of one side's value."""
    if isinstance(value, str) and value.strip().upper() not in BOUNDARY_CODES:
        from walrus.plugins import get_registry  # lazy: loads the plugins only when a name needs them

        known = get_registry().boundaries
        spec = known.get(value.strip())
        if spec is None:
            raise BoundaryError("unknown boundary condition", field=f"axis {axis!r}",
                                expected=f"WALL, OPEN, PERIODIC or a registered boundary {sorted(known)}",
                                received=repr(value))
        return spec.kind, spec.mask, spec.name
    if isinstance(value, str):
        return value, edge_mask, value.strip().upper()
    try:
        name = BOUNDARY_NAMES.get(int(value), repr(value))
    except (TypeError, ValueError):
        name = repr(value)  # not a code: parse_boundaries raises with the standard message
    return value, edge_mask, name


def resolve_boundaries(bcs: Mapping[str, object], axes: Sequence[str]) -> dict[str, AxisBoundary]:
    """Codes and mask builders for every axis, in ``axes`` order.

    Each value is a kind (name, any case, or code), a registered boundary name, or a ``(low, high)``
    pair (or ``"LOW HIGH"`` string) of those. Checks as :func:`walrus.boundaries.parse_boundaries`
    does: every axis has an entry, no unknown axes, PERIODIC on both sides or neither.
    """
    if not isinstance(bcs, Mapping):
        return parse_boundaries(bcs, axes)  # raises the standard error
    kinds: dict[str, object] = {}
    sides: dict[str, tuple] = {}
    for a, value in bcs.items():
        if isinstance(value, str) and len(value.split()) == 2:
            value = tuple(value.split())
        if isinstance(value, (tuple, list)) and len(value) == 2:
            lo, hi = _side(value[0], a), _side(value[1], a)
            kinds[a], sides[a] = (lo[0], hi[0]), (lo, hi)
        elif isinstance(value, (tuple, list)):
            kinds[a] = value  # wrong length: parse_boundaries names the mistake
        else:
            one = _side(value, a)
            kinds[a], sides[a] = one[0], (one, one)
    codes = parse_boundaries(kinds, axes)
    return {a: AxisBoundary(codes[a], (sides[a][0][1], sides[a][1][1]), (sides[a][0][2], sides[a][1][2]))
            for a in axes}


# ---------------------------------------------------------------------------------------------
# arrays -> Well
# ---------------------------------------------------------------------------------------------
@dataclass
class _Var:
    """One dataset of a ``t*_fields`` or ``scalars`` group, with its Well flags."""

    name: str
    data: np.ndarray
    rank: int = 0
    sample_varying: bool = True
    time_varying: bool = True
    dim_varying: tuple = ()
    units: str | None = None
    attrs: dict = dc_field(default_factory=dict)


def _finite(name: str, a: np.ndarray) -> None:
    if np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.complexfloating):
        bad = ~np.isfinite(a)
        if bad.any():
            n_nan = int(np.isnan(a).sum())
            raise ShapeError("contains non-finite values", field=name, expected="finite numbers",
                             received=f"{n_nan} NaN and {int(bad.sum()) - n_nan} infinite of {a.size} values")


def _as_float(name: str, a, dtype) -> np.ndarray:
    """A float array: keep the input's float dtype unless ``dtype`` is given (integers become float32)."""
    try:
        a = np.asarray(a)
    except Exception as exc:
        raise ShapeError("not an array", field=name, expected="a numeric array", received=type(a).__name__) from exc
    if a.dtype == bool or not (np.issubdtype(a.dtype, np.number)):
        raise ShapeError("not numeric", field=name, expected="a float array", received=f"dtype {a.dtype}")
    if np.issubdtype(a.dtype, np.complexfloating):
        raise ShapeError("complex values are not supported", field=name,
                         expected="a real float array (store real and imaginary parts as two fields)",
                         received=f"dtype {a.dtype}")
    target = np.dtype(dtype) if dtype is not None else (a.dtype if np.issubdtype(a.dtype, np.floating)
                                                          else np.dtype(np.float32))
    a = a.astype(target, copy=False)
    _finite(name, a)
    return a


def _check_units(units: Mapping[str, str] | None, known: Sequence[str]) -> dict[str, str]:
    """Units in CF spelling; a registered field's units must be compatible with its declared ones."""
    out: dict[str, str] = {}
    for name, u in (units or {}).items():
        if name not in known:
            raise FieldError("units given for an unknown variable", field=name,
                             expected=f"one of {sorted(known)}", received=repr(name))
        out[name] = format_units(parse_units(u, field=name))
    if out:
        from walrus.plugins import fieldset  # lazy: loads the plugins only when there are units to check

        fs = fieldset()
        for name, u in out.items():
            if name in fs:
                check_compatible(u, fs[name].units, field=name)
    return out


def write_well_file(path, *, dataset_name: str, dimensions: Mapping[str, np.ndarray], time: np.ndarray,
                    fields: Mapping[str, np.ndarray], ranks: Mapping[str, int] | None = None,
                    constant_fields: Mapping[str, np.ndarray] | None = None,
                    scalars: Mapping[str, float] | None = None,
                    boundary_conditions: Mapping[str, str], units: Mapping[str, str] | None = None,
                    grid_type: str = "cartesian", dtype=np.float32) -> Path:
    """Write one Well HDF5 file (atomically) and return its path.

    ``fields`` are time-varying, shaped ``(n_traj, n_steps, *spatial[, D[, D]])`` with axes in
    ``dimensions`` order; ``constant_fields`` are ``(n_traj, *spatial, ...)`` (per trajectory) or
    ``(*spatial, ...)`` (shared); ``ranks`` overrides the rank inferred from the array rank.
    ``scalars``: a number is a simulation parameter (0-d, also a root attribute); an array of
    shape ``(n_steps,)`` or ``(n_traj, n_steps)`` is a time-varying scalar. ``boundary_conditions``
    maps each axis to ``"WALL"|"OPEN"|"PERIODIC"``, a registered boundary name
    (``"reflecting"``) or a ``(low, high)`` pair of those (see :func:`resolve_boundaries`). ``units`` maps any
    field, scalar, axis or ``"time"`` to a unit string (stored in CF spelling). Every array is
    stored as ``dtype`` (float32 by default, as in The Well's data); ``dtype=None`` keeps each
    array's own float dtype, for bit-exact round trips of float64 data.
    """
    if not isinstance(dataset_name, str) or not dataset_name:
        raise WellFormatError("invalid dataset_name", expected="a non-empty string", received=repr(dataset_name))
    if not isinstance(dimensions, Mapping) or not 1 <= len(dimensions) <= 3:
        raise ShapeError("dimensions must map 1 to 3 axis names to coordinates", field="dimensions",
                         expected="e.g. {'x': x, 'y': y}", received=repr(dimensions)[:80])
    axes = list(dimensions)
    D = len(axes)
    coords = {a: _as_float(a, dimensions[a], dtype) for a in axes}
    for a, c in coords.items():
        if c.ndim != 1 or c.size == 0:
            raise ShapeError("coordinate must be 1-D and non-empty", field=a, expected="shape (N,)",
                             received=f"shape {c.shape}")
    spatial = tuple(c.size for c in coords.values())
    t = _as_float("time", time, dtype)
    if t.ndim not in (1, 2) or t.shape[-1] == 0:
        raise ShapeError("time must be (n_steps,) or (n_traj, n_steps)", field="time",
                         expected="shape (n_steps,)", received=f"shape {t.shape}")
    T = t.shape[-1]
    if not fields:
        raise FieldError("no time-varying fields", field="fields", expected="at least one field",
                         received="an empty mapping")
    ranks = dict(ranks or {})

    first = next(iter(fields))
    B = np.shape(fields[first])[0] if np.ndim(fields[first]) else 0
    if t.ndim == 2 and t.shape[0] != B:
        raise ShapeError("sample-varying time must have one row per trajectory", field="time",
                         expected=f"shape ({B}, {T})", received=f"shape {t.shape}")

    def rank_of(name, a, lead):
        r = a.ndim - lead - D
        if name in ranks:
            if ranks[name] not in (0, 1, 2):
                raise FieldError("invalid tensor rank", field=name, expected="0, 1 or 2", received=ranks[name])
            if ranks[name] != r:
                raise FieldError("wrong tensor rank for the array's shape", field=name,
                                 expected=f"rank {ranks[name]}: {lead + D + ranks[name]} dims",
                                 received=f"{a.ndim} dims, shape {a.shape}")
            return ranks[name]
        if r not in (0, 1, 2):
            raise ShapeError("cannot infer a tensor rank", field=name,
                             expected=f"{lead + D} to {lead + D + 2} dims (leading {lead}, then {D} spatial)",
                             received=f"{a.ndim} dims, shape {a.shape}")
        return r

    out: list[_Var] = []
    for name, arr in fields.items():
        a = _as_float(name, arr, dtype)
        r = rank_of(name, a, 2)
        want = (B, T) + spatial + (D,) * r
        if a.shape != want:
            raise ShapeError("shape mismatch", field=name, expected=f"(n_traj, n_steps, *{axes}" +
                             (f", {', '.join(['D'] * r)}" if r else "") + f") = {want}", received=a.shape)
        out.append(_Var(name, a, r, True, True, (True,) * D))
    for name, arr in (constant_fields or {}).items():
        if name in fields:
            raise FieldError("defined both as time-varying and as constant", field=name,
                             expected="one definition", received="two")
        a = _as_float(name, arr, dtype)
        per_traj = a.ndim >= 1 + D and a.shape[0] == B and a.shape[1:1 + D] == spatial and (
            name not in ranks or a.ndim == 1 + D + ranks[name])
        lead = 1 if per_traj else 0
        r = rank_of(name, a, lead)
        want = ((B,) if per_traj else ()) + spatial + (D,) * r
        if a.shape != want:
            raise ShapeError("shape mismatch", field=name, expected=f"(n_traj?, *{axes}, D^rank) = {want}",
                             received=a.shape)
        out.append(_Var(name, a, r, per_traj, False, (True,) * D))

    scal: list[_Var] = []
    for name, v in (scalars or {}).items():
        if name in fields or name in (constant_fields or {}):
            raise FieldError("scalar shares its name with a field", field=name, expected="a unique name",
                             received=repr(name))
        a = _as_float(name, v, dtype)
        if a.ndim == 0:
            scal.append(_Var(name, a, 0, False, False))
        elif a.shape == (T,):
            scal.append(_Var(name, a, 0, False, True))
        elif a.shape == (B, T):
            scal.append(_Var(name, a, 0, True, True))
        else:
            raise ShapeError("invalid scalar shape", field=name,
                             expected=f"() for a parameter, ({T},) or ({B}, {T}) for a time-varying scalar",
                             received=a.shape)

    bcs = resolve_boundaries(boundary_conditions, axes)
    names = [v.name for v in out + scal]
    if len(set(names) | set(axes) | {"time"}) != len(names) + D + 1:
        raise FieldError("name used twice", field=",".join(names), expected="unique field, scalar and axis names",
                         received=names + axes)
    units = _check_units(units, names + axes + ["time"])
    for v in out + scal:
        v.units = units.get(v.name)
    return _write(Path(path), dataset_name=dataset_name, grid_type=grid_type, axes=axes, coords=coords,
                  time=t, n_traj=B, variables=out, scalars=scal, bcs=bcs, coord_units=units)


def _write(path: Path, *, dataset_name, grid_type, axes, coords, time, n_traj, variables, scalars, bcs,
           coord_units) -> Path:
    """Lay the already-checked pieces out as The Well's schema, into a temporary file, then rename."""
    D = len(axes)
    if grid_type not in GRID_TYPES:
        raise WellFormatError("invalid grid_type", field="grid_type", expected=f"one of {GRID_TYPES}",
                              received=repr(grid_type))
    for name in [*axes, *(v.name for v in variables + scalars)]:
        if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
            raise FieldError("invalid name for an HDF5 dataset", field=repr(name),
                             expected="a non-empty name without '/'", received=repr(name))
    for s in scalars:
        if not s.time_varying and not s.sample_varying and s.name in ROOT_ATTRS:
            raise FieldError("parameter name clashes with a Well root attribute", field=s.name,
                             expected=f"a name other than {sorted(ROOT_ATTRS)}", received=repr(s.name))
    params = [s for s in scalars if not s.time_varying and not s.sample_varying]
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["dataset_name"] = dataset_name
            f.attrs["grid_type"] = grid_type
            f.attrs["n_spatial_dims"] = np.int64(D)
            f.attrs["n_trajectories"] = np.int64(n_traj)
            f.attrs["simulation_parameters"] = np.array([p.name for p in params], dtype=_STR)
            for p in params:
                f.attrs[p.name] = p.data.item()

            dims = f.create_group("dimensions")
            dims.attrs["spatial_dims"] = np.array(axes, dtype=_STR)
            ds = dims.create_dataset("time", data=time)
            ds.attrs["sample_varying"] = np.bool_(time.ndim == 2)
            ds.attrs["time_varying"] = np.bool_(True)
            if "time" in coord_units:
                ds.attrs["units"] = coord_units["time"]
            for a in axes:
                ds = dims.create_dataset(a, data=coords[a])
                ds.attrs["sample_varying"] = np.bool_(False)
                ds.attrs["time_varying"] = np.bool_(False)
                if a in coord_units:
                    ds.attrs["units"] = coord_units[a]

            bcg = f.create_group("boundary_conditions")
            for a in axes:
                for code, mask in bcs[a].groups(coords[a].size, a).items():
                    g = bcg.create_group(f"{a}_{BOUNDARY_NAMES[code].lower()}")
                    g.attrs["bc_type"] = BOUNDARY_NAMES[code]
                    g.attrs["associated_dims"] = np.array([a], dtype=_STR)
                    g.attrs["associated_fields"] = np.array([], dtype=_STR)
                    g.attrs["sample_varying"] = np.bool_(False)
                    g.attrs["time_varying"] = np.bool_(False)
                    g.create_dataset("mask", data=mask)

            sg = f.create_group("scalars")
            sg.attrs["field_names"] = np.array([s.name for s in scalars], dtype=_STR)
            for s in scalars:
                ds = sg.create_dataset(s.name, data=s.data)
                ds.attrs["sample_varying"] = np.bool_(s.sample_varying)
                ds.attrs["time_varying"] = np.bool_(s.time_varying)
                if s.units:
                    ds.attrs["units"] = s.units

            for order, group in enumerate(GROUPS):
                g = f.create_group(group)
                members = [v for v in variables if v.rank == order]
                g.attrs["field_names"] = np.array([v.name for v in members], dtype=_STR)
                for v in members:
                    ds = g.create_dataset(v.name, data=v.data)
                    ds.attrs["dim_varying"] = np.array(v.dim_varying, dtype=bool)
                    ds.attrs["sample_varying"] = np.bool_(v.sample_varying)
                    ds.attrs["time_varying"] = np.bool_(v.time_varying)
                    if order == 2:
                        tr = np.swapaxes(v.data, -1, -2)
                        ds.attrs["symmetric"] = np.bool_(np.array_equal(v.data, tr))
                        ds.attrs["antisymmetric"] = np.bool_(np.array_equal(v.data, -tr))
                    if v.units:
                        ds.attrs["units"] = v.units
    return path


# ---------------------------------------------------------------------------------------------
# xarray -> Well
# ---------------------------------------------------------------------------------------------
def write_dataset(ds: xr.Dataset, path, *, dataset_name: str | None = None, grid_type: str | None = None,
                  boundary_conditions: Mapping[str, object] | None = None) -> Path:
    """Write a walrus-layout Dataset (:mod:`walrus.io.schema`) as a Well file; values and units round-trip exactly.

    ``boundary_conditions`` (as in :func:`write_well_file`) overrides the ``bc_<axis>`` attributes.
    """
    ds = dequantify(ds)
    axes = dataset_axes(ds)
    if not axes:
        raise ShapeError("no spatial axes found", field="dataset", expected="fields with spatial dims",
                         received=f"dims {dict(ds.sizes)}")
    for a in axes:
        if a not in ds.coords:
            raise ShapeError("spatial axis has no coordinate", field=a, expected=f"a 1-D coordinate {a!r}",
                             received=f"coords {list(ds.coords)}")
    bcs = resolve_boundaries(boundary_conditions if boundary_conditions is not None else
                             dataset_boundaries(ds, axes), axes)
    B = ds.sizes.get(SAMPLE_DIM, 1)
    if "sample_time" in ds.coords:
        time = ds["sample_time"].transpose(SAMPLE_DIM, TIME_DIM)
    elif TIME_DIM in ds.coords:
        time = ds[TIME_DIM]
    else:
        raise ShapeError("no time coordinate", field="time", expected="a 'time' coordinate",
                         received=f"coords {list(ds.coords)}")
    units = {k: str(ds[k].attrs["units"]) for k in [*axes] if "units" in ds[k].attrs}
    if "units" in time.attrs:
        units["time"] = str(time.attrs["units"])
    variables, scalars = [], []
    order_dims = [SAMPLE_DIM, TIME_DIM, *axes, *COMPONENT_DIMS]
    for name, v in ds.data_vars.items():
        unknown = [d for d in v.dims if d not in order_dims]
        if unknown:
            raise ShapeError("unknown dimension", field=name, expected=f"dims among {order_dims}",
                             received=f"dims {v.dims}")
        v = v.transpose(*[d for d in order_dims if d in v.dims])
        rank = sum(d in v.dims for d in COMPONENT_DIMS)
        if rank == 2 and COMPONENT_DIMS[0] not in v.dims:
            raise ShapeError("tensor without its first component dim", field=name,
                             expected=COMPONENT_DIMS, received=v.dims)
        for cdim in COMPONENT_DIMS[:rank]:
            if v.sizes[cdim] != len(axes):
                raise ShapeError("wrong number of components", field=name,
                                 expected=f"{len(axes)} along {cdim}", received=v.sizes[cdim])
        data = _as_float(name, v.values, None)
        sv, tv = SAMPLE_DIM in v.dims, TIME_DIM in v.dims
        if not sv and SAMPLE_DIM not in ds.dims and any(d in v.dims for d in axes) and tv:
            data, sv = data[None], True  # a single trajectory without a sample dim
        dv = tuple(a in v.dims for a in axes)
        var = _Var(name, data, rank, sv, tv, dv, str(v.attrs["units"]) if "units" in v.attrs else None)
        (variables if any(dv) else scalars).append(var)
    if not [v for v in variables if v.time_varying]:
        raise FieldError("no time-varying fields", field="dataset", expected="at least one field with a time dim",
                         received=list(ds.data_vars))
    tvals = _as_float("time", time.values, None)
    coords = {a: _as_float(a, ds[a].values, None) for a in axes}
    units = _check_units(units | {v.name: v.units for v in variables + scalars if v.units},
                         [v.name for v in variables + scalars] + axes + ["time"])
    for v in variables + scalars:
        v.units = units.get(v.name)
    if any(v.name in axes for v in variables + scalars):
        raise FieldError("variable named like an axis", field="dataset", expected="distinct names", received=axes)
    name = dataset_name or ds.attrs.get("dataset_name")
    if not name:
        raise WellFormatError("no dataset name", field="dataset_name", expected="ds.attrs['dataset_name'] or an argument",
                              received="nothing")
    return _write(Path(path), dataset_name=str(name), grid_type=grid_type or ds.attrs.get("grid_type", "cartesian"),
                  axes=axes, coords=coords, time=tvals, n_traj=B, variables=variables, scalars=scalars, bcs=bcs,
                  coord_units=units)
