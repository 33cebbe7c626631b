"""The Well's HDF5 format: write, check and read files, and compute ``stats.yaml``.

Files follow ``WELL_FORMAT.md`` (the schema The Well's loader and checker read), including the
points its own docs and dummy writer get wrong: ``time`` carries ``time_varying=True``; constant
scalars are 0-d; all three ``t*_fields`` groups exist; ``associated_dims`` is a list; boundary
masks are True on the boundary points; ``bc_type`` is upper case; no ``values`` dataset.

The Well has no units. walrus stores them as a CF ``units`` attribute on each dataset, which our
reader turns into xarray ``units`` attributes and The Well's loader ignores.

In xarray form (what :func:`read_well_file` returns and :func:`write_dataset` takes) a file is:
dims ``sample`` (trajectories), ``time``, the spatial axes, and ``component_i``/``component_j`` for
vector/tensor components (coordinates: the axis names); time-varying fields are
``(sample, time, *axes[, component_i[, component_j]])``, constant fields lack ``time``; scalars
have only ``sample``/``time`` dims (0-d for simulation parameters); boundary conditions are the
dataset attributes ``bc_<axis> = "LOW HIGH"`` (e.g. ``"WALL OPEN"``).
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field as dc_field
from pathlib import Path
from typing import Mapping, Sequence

import h5py
import numpy as np
import xarray as xr
import yaml

from walrus.boundaries import BOUNDARY_NAMES, OPEN, PERIODIC, WALL, format_axis, parse_boundaries
from walrus.errors import FieldError, ShapeError, WellFormatError
from walrus.io.atomic import atomic_path
from walrus.units import check_compatible, format_units, parse_units

__all__ = ["write_well_file", "read_well_file", "dataset_from_file", "write_dataset", "check_well_file", "write_dataset_stats",
           "compute_stats", "effective_boundaries", "SAMPLE_DIM", "TIME_DIM", "COMPONENT_DIMS", "GROUPS"]

SAMPLE_DIM, TIME_DIM = "sample", "time"
COMPONENT_DIMS = ("component_i", "component_j")
GROUPS = ("t0_fields", "t1_fields", "t2_fields")
GRID_TYPES = ("cartesian", "spherical", "equiangular")
_STR = h5py.string_dtype()
_ROOT_ATTRS = frozenset({"dataset_name", "grid_type", "n_spatial_dims", "n_trajectories", "simulation_parameters"})


# ---------------------------------------------------------------------------------------------
# writing
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
    from walrus.fields import FIELDS  # lazy: walrus.fields pulls in the model package
    out = {}
    for name, u in (units or {}).items():
        if name not in known:
            raise FieldError("units given for an unknown variable", field=name,
                             expected=f"one of {sorted(known)}", received=repr(name))
        out[name] = format_units(parse_units(u, field=name))
        if name in FIELDS:
            check_compatible(out[name], FIELDS[name].units, field=name)
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
    maps each axis to ``"WALL"|"OPEN"|"PERIODIC"`` or a ``(low, high)`` pair. ``units`` maps any
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

    bcs = parse_boundaries(boundary_conditions, axes)
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
        if not s.time_varying and not s.sample_varying and s.name in _ROOT_ATTRS:
            raise FieldError("parameter name clashes with a Well root attribute", field=s.name,
                             expected=f"a name other than {sorted(_ROOT_ATTRS)}", received=repr(s.name))
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
                low, high = bcs[a]
                n = coords[a].size
                sides = {low: [0], high: [n - 1]} if low != high else {low: [0, n - 1]}
                for code, idx in sides.items():
                    g = bcg.create_group(f"{a}_{BOUNDARY_NAMES[code].lower()}")
                    g.attrs["bc_type"] = BOUNDARY_NAMES[code]
                    g.attrs["associated_dims"] = np.array([a], dtype=_STR)
                    g.attrs["associated_fields"] = np.array([], dtype=_STR)
                    g.attrs["sample_varying"] = np.bool_(False)
                    g.attrs["time_varying"] = np.bool_(False)
                    mask = np.zeros(n, dtype=bool)
                    mask[idx] = True
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
# checking
# ---------------------------------------------------------------------------------------------
def _open(path) -> h5py.File:
    path = Path(path)
    if not path.is_file():
        raise WellFormatError("no such file", field=str(path), expected="an existing Well HDF5 file",
                              received="nothing at that path")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise WellFormatError("cannot be opened as HDF5 (truncated or not an HDF5 file)", field=str(path),
                              expected="a complete HDF5 file", received=f"h5py error: {exc}") from exc


def _bool(x) -> bool:
    return bool(np.asarray(x).item()) if np.ndim(x) == 0 else False


def _str(x) -> str:
    """An HDF5 string attribute as str (files written with fixed-length strings give bytes)."""
    return x.decode() if isinstance(x, bytes) else str(x)


def _names(x) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in np.atleast_1d(np.asarray(x, dtype=object))]


def _validate(f: h5py.File, where: str) -> None:
    """The Well checker's rules (WELL_FORMAT.md §1-2), raising WellFormatError on the first violation."""
    try:
        _check_schema(f, where)
    except WellFormatError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, OSError, AttributeError) as exc:
        raise WellFormatError("malformed Well file", field=where, expected="The Well's schema",
                              received=f"{type(exc).__name__}: {exc}") from exc


def _check_schema(f: h5py.File, where: str) -> None:

    def need(cond, what, expected, received):
        if not cond:
            raise WellFormatError(what, field=where, expected=expected, received=received)

    for key in ("dataset_name", "grid_type", "n_spatial_dims", "n_trajectories", "simulation_parameters"):
        need(key in f.attrs, f"missing root attribute {key!r}", "The Well's root attributes",
             f"attributes {sorted(f.attrs)}")
    for grp in ("dimensions", "boundary_conditions", "scalars", *GROUPS):
        need(grp in f and isinstance(f[grp], h5py.Group), f"missing group /{grp}", "The Well's groups",
             f"groups {sorted(f)}")
    D = int(f.attrs["n_spatial_dims"])
    B = int(f.attrs["n_trajectories"])
    for p in _names(f.attrs["simulation_parameters"]) if np.size(f.attrs["simulation_parameters"]) else []:
        need(p in f.attrs, f"simulation parameter {p!r} is not a root attribute", "a root attribute per parameter",
             f"attributes {sorted(f.attrs)}")
    dims = f["dimensions"]
    need("spatial_dims" in dims.attrs, "missing /dimensions@spatial_dims", "a list of axis names", "nothing")
    axes = _names(dims.attrs["spatial_dims"])
    need(len(axes) == D, "spatial_dims length differs from n_spatial_dims", f"{D} names", axes)
    need("time" in dims, "missing /dimensions/time", "a time dataset", f"{sorted(dims)}")
    tds = dims["time"]
    for flag in ("sample_varying", "time_varying"):
        need(flag in tds.attrs, f"/dimensions/time lacks @{flag}", "a bool attribute", "nothing")
    T = tds.shape[-1]
    sizes = []
    for a in axes:
        need(a in dims, f"missing coordinate /dimensions/{a}", "one dataset per spatial dim", f"{sorted(dims)}")
        sizes.append(dims[a].shape[-1])
    for order, grp in enumerate(GROUPS):
        g = f[grp]
        need("field_names" in g.attrs, f"/{grp} lacks @field_names", "a list of names", "nothing")
        for name in _names(g.attrs["field_names"]) if np.size(g.attrs["field_names"]) else []:
            need(name in g, f"/{grp}/{name} is listed but missing", "a dataset", f"{sorted(g)}")
            ds = g[name]
            for flag in ("sample_varying", "time_varying", "dim_varying"):
                need(flag in ds.attrs, f"/{grp}/{name} lacks @{flag}", "the Well flags", f"{sorted(ds.attrs)}")
            dv = np.atleast_1d(ds.attrs["dim_varying"]).astype(bool)
            need(dv.size == D, f"/{grp}/{name}@dim_varying has the wrong length", D, dv.size)
            shape = (((B,) if _bool(ds.attrs["sample_varying"]) else ()) +
                     ((T,) if _bool(ds.attrs["time_varying"]) else ()) +
                     tuple(n for n, v in zip(sizes, dv) if v) + (D,) * order)
            need(ds.shape == shape, f"/{grp}/{name} breaks the shape rule", shape, ds.shape)
    sg = f["scalars"]
    need("field_names" in sg.attrs, "/scalars lacks @field_names", "a list of names", "nothing")
    for name in _names(sg.attrs["field_names"]) if np.size(sg.attrs["field_names"]) else []:
        need(name in sg, f"/scalars/{name} is listed but missing", "a dataset", f"{sorted(sg)}")
        ds = sg[name]
        shape = (((B,) if _bool(ds.attrs.get("sample_varying", False)) else ()) +
                 ((T,) if _bool(ds.attrs.get("time_varying", False)) else ()))
        need(ds.shape == shape, f"/scalars/{name} breaks the shape rule", shape, ds.shape)
    for key, g in f["boundary_conditions"].items():
        need("bc_type" in g.attrs and _str(g.attrs["bc_type"]).upper() in ("WALL", "OPEN", "PERIODIC"),
             f"/boundary_conditions/{key} has no valid @bc_type", "WALL, OPEN or PERIODIC",
             g.attrs.get("bc_type"))
        need("associated_dims" in g.attrs and "mask" in g, f"/boundary_conditions/{key} is incomplete",
             "@associated_dims and a mask dataset", f"{sorted(g.attrs)} / {sorted(g)}")
        for a in _names(g.attrs["associated_dims"]):
            need(a in axes, f"/boundary_conditions/{key} names an unknown axis", axes, a)


def check_well_file(path) -> None:
    """Raise WellFormatError unless ``path`` follows The Well's schema (as its checker and loader read it)."""
    with _open(path) as f:
        _validate(f, str(path))


def effective_boundaries(f: h5py.File) -> dict[str, tuple[int, int]]:
    """(low, high) codes per axis as The Well's loader derives them from the masks.

    Unspecified sides are OPEN; WALL needs every mask entry on that side True, OPEN/PERIODIC any.
    """
    axes = _names(f["dimensions"].attrs["spatial_dims"])
    out = {a: [OPEN, OPEN] for a in axes}
    codes = {"WALL": WALL, "OPEN": OPEN, "PERIODIC": PERIODIC}
    for g in f["boundary_conditions"].values():
        kind = _str(g.attrs["bc_type"]).upper()
        assoc = _names(g.attrs["associated_dims"])
        mask = np.asarray(g["mask"][()])
        for i, a in enumerate(assoc):
            agg = np.min if kind == "WALL" else np.max
            for side, index in ((0, 0), (1, -1)):
                sl = tuple(index if j == i else slice(None) for j in range(len(assoc)))
                if agg(mask[sl]):
                    out[a][side] = codes[kind]
    return {a: (lo, hi) for a, (lo, hi) in out.items()}


# ---------------------------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------------------------
def _attrs(ds: h5py.Dataset) -> dict:
    return {"units": _str(ds.attrs["units"])} if "units" in ds.attrs else {}


def dataset_from_file(f: h5py.File, read=lambda ds: ds[()], drop=()) -> xr.Dataset:
    """Build the walrus-layout Dataset of an open, validated Well file.

    ``read(h5py_dataset)`` supplies each field's data: eager arrays (the default) or lazy
    wrappers (the xarray backend). Variables named in ``drop`` are skipped.
    """
    dims = f["dimensions"]
    axes = _names(dims.attrs["spatial_dims"])
    coords: dict = {}
    tds = dims["time"]
    if _bool(tds.attrs["sample_varying"]):
        coords["sample_time"] = ((SAMPLE_DIM, TIME_DIM), tds[()], _attrs(tds))
    else:
        coords[TIME_DIM] = ((TIME_DIM,), tds[()], _attrs(tds))
    for a in axes:
        if _bool(dims[a].attrs.get("sample_varying", False)):
            coords[f"sample_{a}"] = ((SAMPLE_DIM, a), dims[a][()], _attrs(dims[a]))
        else:
            coords[a] = ((a,), dims[a][()], _attrs(dims[a]))
    data_vars: dict = {}
    max_rank = 0
    for order, grp in enumerate(GROUPS):
        g = f[grp]
        for name in _names(g.attrs["field_names"]) if np.size(g.attrs["field_names"]) else []:
            if name in drop:
                continue
            ds = g[name]
            dv = np.atleast_1d(ds.attrs["dim_varying"]).astype(bool)
            vdims = (((SAMPLE_DIM,) if _bool(ds.attrs["sample_varying"]) else ()) +
                     ((TIME_DIM,) if _bool(ds.attrs["time_varying"]) else ()) +
                     tuple(a for a, v in zip(axes, dv) if v) + COMPONENT_DIMS[:order])
            data_vars[name] = (vdims, read(ds), _attrs(ds))
            max_rank = max(max_rank, order)
    sg = f["scalars"]
    for name in _names(sg.attrs["field_names"]) if np.size(sg.attrs["field_names"]) else []:
        if name in drop:
            continue
        ds = sg[name]
        vdims = (((SAMPLE_DIM,) if _bool(ds.attrs.get("sample_varying", False)) else ()) +
                 ((TIME_DIM,) if _bool(ds.attrs.get("time_varying", False)) else ()))
        data_vars[name] = (vdims, ds[()], _attrs(ds))
    for cdim in COMPONENT_DIMS[:max_rank]:
        coords[cdim] = ((cdim,), np.array(axes, dtype=object))
    attrs = {"dataset_name": _str(f.attrs["dataset_name"]), "grid_type": _str(f.attrs["grid_type"]),
             "spatial_dims": " ".join(axes)}
    for a, codes in effective_boundaries(f).items():
        attrs[f"bc_{a}"] = format_axis(codes)
    return xr.Dataset(data_vars, coords=coords, attrs=attrs)


def read_well_file(path, *, quantify: bool = False) -> xr.Dataset:
    """Read a Well file into an xarray Dataset (layout in this module's docstring), units as attributes.

    Files without units (The Well's own) give variables without ``units`` attributes.
    With ``quantify=True`` the result holds pint quantities (CF-aware registry).
    """
    with _open(path) as f:
        _validate(f, str(path))
        try:
            out = dataset_from_file(f)
        except OSError as exc:  # e.g. corrupted data blocks behind an intact header
            raise WellFormatError("unreadable data", field=str(path), expected="readable datasets",
                                  received=f"h5py error: {exc}") from exc
    if quantify:
        from walrus.io.xr import quantify as _q
        out = _q(out)
    return out


# ---------------------------------------------------------------------------------------------
# xarray -> Well
# ---------------------------------------------------------------------------------------------
def dataset_axes(ds: xr.Dataset) -> list[str]:
    """Spatial axes of a walrus-layout Dataset: the ``spatial_dims`` attribute, else inferred from dims."""
    if "spatial_dims" in ds.attrs:
        return str(ds.attrs["spatial_dims"]).split()
    skip = {SAMPLE_DIM, TIME_DIM, *COMPONENT_DIMS}
    axes: list[str] = []
    for v in ds.data_vars.values():
        for d in v.dims:
            if d not in skip and d not in axes:
                axes.append(d)
    return axes


def dataset_boundaries(ds: xr.Dataset, axes: Sequence[str]) -> dict[str, tuple[int, int]]:
    """Boundary codes from the ``bc_<axis>`` attributes; BoundaryError if one is missing or bad."""
    return parse_boundaries({a: ds.attrs[f"bc_{a}"] for a in axes if f"bc_{a}" in ds.attrs}, axes)


def write_dataset(ds: xr.Dataset, path, *, dataset_name: str | None = None, grid_type: str | None = None,
                  boundary_conditions: Mapping[str, object] | None = None) -> Path:
    """Write a walrus-layout Dataset (see module docstring) as a Well file; values and units round-trip exactly."""
    from walrus.io.xr import dequantify
    ds = dequantify(ds)
    axes = dataset_axes(ds)
    if not axes:
        raise ShapeError("no spatial axes found", field="dataset", expected="fields with spatial dims",
                         received=f"dims {dict(ds.sizes)}")
    for a in axes:
        if a not in ds.coords:
            raise ShapeError("spatial axis has no coordinate", field=a, expected=f"a 1-D coordinate {a!r}",
                             received=f"coords {list(ds.coords)}")
    bcs = parse_boundaries(boundary_conditions, axes) if boundary_conditions is not None else dataset_boundaries(ds, axes)
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


# ---------------------------------------------------------------------------------------------
# statistics
# ---------------------------------------------------------------------------------------------
class _Moments:
    """Count-weighted first and second moments, per tensor component, in float64."""

    def __init__(self):
        self.n, self.s1, self.s2 = 0, 0.0, 0.0

    def add(self, x: np.ndarray, order: int) -> None:
        x = np.asarray(x, dtype=np.float64)
        axes = tuple(range(x.ndim - order))
        self.n += int(np.prod(x.shape[: x.ndim - order]))
        self.s1 = self.s1 + x.sum(axis=axes)
        self.s2 = self.s2 + (x * x).sum(axis=axes)

    def result(self):
        m1, m2 = self.s1 / self.n, self.s2 / self.n
        std = np.sqrt(np.maximum(m2 - m1 ** 2, 0.0))
        return m1, std, np.sqrt(m2)


def compute_stats(files: Sequence[str | os.PathLike]) -> dict:
    """The Well's ``stats.yaml`` content over ``files`` (see WELL_FORMAT.md §1, stats.yaml).

    Per field and per component, reducing every axis but the tensor axes, float64, population
    variance, files combined by counts. Deltas are differences along the time axis of time-varying
    fields; constant fields appear only in mean/std/rms. Reads one trajectory at a time.
    """
    plain: dict[str, _Moments] = {}
    delta: dict[str, _Moments] = {}
    orders: dict[str, int] = {}
    for p in files:
        with _open(p) as f:
            _validate(f, str(p))
            for order, grp in enumerate(GROUPS):
                g = f[grp]
                for name in _names(g.attrs["field_names"]) if np.size(g.attrs["field_names"]) else []:
                    ds = g[name]
                    orders[name] = order
                    sv, tv = _bool(ds.attrs["sample_varying"]), _bool(ds.attrs["time_varying"])
                    chunks = (ds[i] for i in range(ds.shape[0])) if sv else [ds[()]]
                    for x in chunks:
                        plain.setdefault(name, _Moments()).add(x, order)
                        if tv:
                            delta.setdefault(name, _Moments()).add(np.diff(np.asarray(x, np.float64), axis=0), order)
    if not plain:
        raise WellFormatError("no fields to compute statistics over", field="stats", expected="Well files with fields",
                              received=[str(p) for p in files])
    stats: dict = {k: {} for k in ("mean", "std", "rms", "mean_delta", "std_delta", "rms_delta")}
    for name, m in plain.items():
        for key, val in zip(("mean", "std", "rms"), m.result()):
            stats[key][name] = _tolist(val)
    for name, m in delta.items():
        for key, val in zip(("mean_delta", "std_delta", "rms_delta"), m.result()):
            stats[key][name] = _tolist(val)
    return stats


def _tolist(v):
    v = np.asarray(v, dtype=np.float64)
    return float(v) if v.ndim == 0 else v.tolist()


def write_dataset_stats(dataset_dir) -> Path:
    """Write ``<dataset_dir>/stats.yaml`` from ``<dataset_dir>/data/train/*.hdf5`` (and ``*.h5``), atomically."""
    root = Path(dataset_dir)
    train = root / "data" / "train"
    files = sorted(glob.glob(str(train / "*.hdf5")) + glob.glob(str(train / "*.h5")))
    if not files:
        raise WellFormatError("no training files", field=str(train), expected="data/train/*.hdf5",
                              received="no .hdf5/.h5 files")
    stats = compute_stats(files)
    out = root / "stats.yaml"
    with atomic_path(out) as tmp:
        with open(tmp, "w") as fh:
            yaml.safe_dump(stats, fh, sort_keys=False)
    return out
