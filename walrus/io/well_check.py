"""Open a Well HDF5 file and check it against The Well's schema (WELL_FORMAT.md §1-2).

The rules are the ones The Well's checker and loader apply; every violation raises a
:class:`~walrus.errors.WellFormatError` naming the file, what was expected and what was found.
Also the small decoders for HDF5 attributes (bools, strings, name lists) that every reader of a
Well file needs, since files written by other tools store them in several ways.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from walrus.errors import WellFormatError
from walrus.io.hdf5_guard import check_global_heaps
from walrus.io.schema import GRID_TYPES, GROUPS

__all__ = ["open_well", "validate", "check_well_file", "attr_bool", "attr_str", "attr_names", "group_names",
           "check_finite", "read_checked"]

BC_TYPES = ("WALL", "OPEN", "PERIODIC")


def open_well(path) -> h5py.File:
    """Open ``path`` read-only; WellFormatError if it is missing or not HDF5 (truncated, other format)."""
    path = Path(path)
    if not path.is_file():
        raise WellFormatError("no such file", field=str(path), expected="an existing Well HDF5 file",
                              received="nothing at that path")
    check_global_heaps(path)  # before libhdf5 parses anything: one corruption makes it loop forever
    try:
        return h5py.File(path, "r")
    except Exception as exc:  # h5py raises OSError, but also RuntimeError/KeyError on damaged superblocks
        raise WellFormatError("cannot be opened as HDF5 (truncated or not an HDF5 file)", field=str(path),
                              expected="a complete HDF5 file", received=f"h5py error: {exc}") from exc


def attr_bool(x) -> bool:
    """A Well flag attribute as bool (anything but a 0-d value counts as False)."""
    return bool(np.asarray(x).item()) if np.ndim(x) == 0 else False


def attr_str(x) -> str:
    """An HDF5 string attribute as str (files written with fixed-length strings give bytes)."""
    return x.decode() if isinstance(x, bytes) else str(x)


def attr_names(x) -> list[str]:
    """A list-of-names attribute (array, scalar string, bytes) as a list of str."""
    return [v.decode() if isinstance(v, bytes) else str(v) for v in np.atleast_1d(np.asarray(x, dtype=object))]


def group_names(g: h5py.Group) -> list[str]:
    """The ``field_names`` of a field or scalar group (an empty attribute gives [])."""
    return attr_names(g.attrs["field_names"]) if np.size(g.attrs["field_names"]) else []


def check_finite(values, where: str, name: str) -> np.ndarray:
    """``values`` as an array; WellFormatError naming the file and dataset if a float holds NaN/inf.

    walrus's writers refuse non-finite values, so a file that holds them is damaged or foreign.
    """
    a = np.asarray(values)
    if a.dtype.kind in "fc" and a.size:
        bad = ~np.isfinite(a)
        if bad.any():
            n_nan = int(np.isnan(a).sum())
            raise WellFormatError(f"{name} contains non-finite values", field=where,
                                  expected="finite numbers (walrus's writers refuse NaN and inf)",
                                  received=f"{n_nan} NaN and {int(bad.sum()) - n_nan} infinite of {a.size} values")
    return a


def read_checked(ds: h5py.Dataset, where: str, key=()) -> np.ndarray:
    """Read ``ds[key]`` (all of it by default), mapping HDF5 read errors (damaged data blocks) and
    non-finite values to a WellFormatError naming the file and the dataset."""
    try:
        values = ds[key] if key != () and ds.shape else ds[()]
    except Exception as exc:
        raise WellFormatError(f"cannot read {ds.name}", field=where, expected="readable data",
                              received=f"h5py error: {type(exc).__name__}: {exc}") from exc
    return check_finite(values, where, ds.name)


def validate(f: h5py.File, where: str) -> None:
    """The Well checker's rules, raising WellFormatError (naming ``where``) on the first violation.

    Beyond The Well's own checker: the kinds of attributes (flags are booleans, counts integers in
    sane bounds), the dtypes of datasets (fields are floats, masks booleans), mask shapes and
    names that would collide in the xarray form. Nothing here reads field data.
    """
    try:
        _check_schema(f, where)
    except WellFormatError:
        raise
    except Exception as exc:  # a damaged file can make h5py raise nearly anything while reading metadata
        raise WellFormatError("malformed Well file", field=where, expected="The Well's schema",
                              received=f"{type(exc).__name__}: {exc}") from exc


def check_well_file(path, *, content: bool = True) -> None:
    """Raise WellFormatError unless ``path`` follows The Well's schema (as its checker and loader read it).

    With ``content`` (the default) every dataset is also read, one leading slice at a time, and
    checked readable and finite (as the upstream content check does for NaN).
    """
    with open_well(path) as f:
        validate(f, str(path))
        if content:
            _check_content(f, str(path))


def _check_content(f: h5py.File, where: str) -> None:
    datasets: list[h5py.Dataset] = []

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            datasets.append(obj)

    try:
        f.visititems(visit)
    except Exception as exc:
        raise WellFormatError("unreadable Well file", field=where, expected="readable groups",
                              received=f"{type(exc).__name__}: {exc}") from exc
    for ds in datasets:
        if ds.dtype.kind not in "fc":
            read_checked(ds, where)  # readable
        elif ds.ndim == 0 or ds.shape[0] == 0:
            read_checked(ds, where)
        else:
            for i in range(ds.shape[0]):
                read_checked(ds, where, (i,))


#: Largest accepted n_trajectories (anything above is a damaged attribute, not a dataset).
MAX_TRAJECTORIES = 2**31 - 1
_RESERVED = ("sample", "time", "component_i", "component_j", "sample_time")


def _is_str(x) -> bool:
    return isinstance(x, (str, bytes)) or (isinstance(x, np.ndarray) and x.ndim == 0 and x.dtype.kind in "OSU")


def _check_schema(f: h5py.File, where: str) -> None:

    def need(cond, what, expected, received):
        if not cond:
            raise WellFormatError(what, field=where, expected=expected, received=received)

    def integer(x, what, lo, hi) -> int:
        a = np.asarray(x)
        ok = a.ndim == 0 and (a.dtype.kind in "iu" or (a.dtype.kind == "f" and bool(np.isfinite(a))
                                                        and float(a).is_integer()))
        need(ok, f"{what} is not an integer", f"an integer in [{lo}, {hi}]", repr(x)[:80])
        v = int(a)
        need(lo <= v <= hi, f"{what} is out of bounds", f"an integer in [{lo}, {hi}]", v)
        return v

    def flag(attrs, key, what, default=None) -> bool:
        if key not in attrs and default is not None:
            return default
        need(key in attrs, f"{what} lacks @{key}", "a bool attribute", f"attributes {sorted(attrs)}")
        a = np.asarray(attrs[key])
        need(a.ndim == 0 and (a.dtype == bool or (a.dtype.kind in "iu" and int(a) in (0, 1))),
             f"{what}@{key} is not a boolean", "True or False", repr(attrs[key])[:80])
        return bool(a)

    def names(x, what) -> list[str]:
        a = np.asarray(x, dtype=object) if not _is_str(x) else np.asarray([x], dtype=object)
        need(a.ndim <= 1 and all(isinstance(v, (str, bytes)) for v in np.atleast_1d(a)),
             f"{what} is not a list of names", "a list of strings", repr(x)[:80])
        out = attr_names(x) if np.size(x) else []
        need(all(out) and len(set(out)) == len(out), f"{what} has empty or repeated names", "unique names", out)
        return out

    def dataset(parent, key, what, listed=False) -> h5py.Dataset:
        need(key in parent, f"{what} is listed but missing" if listed else f"missing {what}", "a dataset",
             f"{sorted(parent)}")
        obj = parent.get(key, getclass=False)
        need(isinstance(obj, h5py.Dataset), f"{what} is not a dataset", "an HDF5 dataset", type(obj).__name__)
        return obj

    def numeric(ds, what, kinds="fiu"):
        need(ds.dtype.kind in kinds and ds.dtype.names is None, f"{what} has the wrong dtype",
             "floating point" if kinds == "f" else "real numbers", str(ds.dtype))

    for key in ("dataset_name", "grid_type", "n_spatial_dims", "n_trajectories", "simulation_parameters"):
        need(key in f.attrs, f"missing root attribute {key!r}", "The Well's root attributes",
             f"attributes {sorted(f.attrs)}")
    for grp in ("dimensions", "boundary_conditions", "scalars", *GROUPS):
        need(grp in f and isinstance(f.get(grp, getclass=False), h5py.Group), f"missing group /{grp}",
             "The Well's groups", f"groups {sorted(f)}")
    for key in ("dataset_name", "grid_type"):
        need(_is_str(f.attrs[key]), f"root attribute {key!r} is not a string", "a string", repr(f.attrs[key])[:80])
    grid = attr_str(f.attrs["grid_type"])
    need(grid in GRID_TYPES, "invalid grid_type", f"one of {GRID_TYPES}", repr(grid))
    D = integer(f.attrs["n_spatial_dims"], "n_spatial_dims", 1, 3)
    B = integer(f.attrs["n_trajectories"], "n_trajectories", 0, MAX_TRAJECTORIES)
    for p in names(f.attrs["simulation_parameters"], "simulation_parameters"):
        need(p in f.attrs, f"simulation parameter {p!r} is not a root attribute", "a root attribute per parameter",
             f"attributes {sorted(f.attrs)}")
        v = np.asarray(f.attrs[p])
        need(v.ndim == 0 and v.dtype.kind in "fiub" and bool(np.isfinite(v.astype(float))),
             f"simulation parameter {p!r} is not a finite number", "a finite number", repr(f.attrs[p])[:80])
    dims = f["dimensions"]
    need("spatial_dims" in dims.attrs, "missing /dimensions@spatial_dims", "a list of axis names", "nothing")
    axes = names(dims.attrs["spatial_dims"], "/dimensions@spatial_dims")
    need(len(axes) == D, "spatial_dims length differs from n_spatial_dims", f"{D} names", axes)
    need(not set(axes) & set(_RESERVED), "spatial_dims uses a reserved name", f"names other than {_RESERVED}", axes)
    tds = dataset(dims, "time", "/dimensions/time")
    sample_time = flag(tds.attrs, "sample_varying", "/dimensions/time")
    flag(tds.attrs, "time_varying", "/dimensions/time")
    numeric(tds, "/dimensions/time")
    need(tds.ndim == (2 if sample_time else 1) and tds.shape[-1] >= 1 and (not sample_time or tds.shape[0] == B),
         "/dimensions/time has the wrong shape", "(n_trajectories, T)" if sample_time else "(T,)", tds.shape)
    T = tds.shape[-1]
    sizes = []
    for a in axes:
        ds = dataset(dims, a, f"coordinate /dimensions/{a}")
        numeric(ds, f"/dimensions/{a}")
        sv = flag(ds.attrs, "sample_varying", f"/dimensions/{a}", default=False)
        need(ds.ndim == (2 if sv else 1) and ds.shape[-1] >= 1 and (not sv or ds.shape[0] == B),
             f"/dimensions/{a} has the wrong shape", "(N,)" if not sv else "(n_trajectories, N)", ds.shape)
        sizes.append(ds.shape[-1])
    seen: dict[str, str] = {}
    taken = set(axes) | {f"sample_{a}" for a in axes} | set(_RESERVED)
    for order, grp in enumerate(GROUPS):
        g = f[grp]
        need("field_names" in g.attrs, f"/{grp} lacks @field_names", "a list of names", "nothing")
        for name in names(g.attrs["field_names"], f"/{grp}@field_names"):
            need(name not in seen and name not in taken, f"/{grp}/{name}: the name is used twice",
                 "field, scalar and axis names all distinct", f"also {seen.get(name, 'a coordinate')}")
            seen[name] = f"/{grp}/{name}"
            ds = dataset(g, name, f"/{grp}/{name}", listed=True)
            sv = flag(ds.attrs, "sample_varying", f"/{grp}/{name}")
            tv = flag(ds.attrs, "time_varying", f"/{grp}/{name}")
            need("dim_varying" in ds.attrs, f"/{grp}/{name} lacks @dim_varying", "the Well flags",
                 f"{sorted(ds.attrs)}")
            dva = np.atleast_1d(np.asarray(ds.attrs["dim_varying"]))
            need(dva.ndim == 1 and (dva.dtype == bool or (dva.dtype.kind in "iu" and np.isin(dva, (0, 1)).all())),
                 f"/{grp}/{name}@dim_varying is not a list of booleans", f"{D} booleans", repr(dva)[:80])
            dv = dva.astype(bool)
            need(dv.size == D, f"/{grp}/{name}@dim_varying has the wrong length", D, dv.size)
            numeric(ds, f"/{grp}/{name}", kinds="f")
            shape = (((B,) if sv else ()) + ((T,) if tv else ()) +
                     tuple(n for n, v in zip(sizes, dv) if v) + (D,) * order)
            need(ds.shape == shape, f"/{grp}/{name} breaks the shape rule", shape, ds.shape)
            _check_units_attr(ds, where)
    sg = f["scalars"]
    need("field_names" in sg.attrs, "/scalars lacks @field_names", "a list of names", "nothing")
    for name in names(sg.attrs["field_names"], "/scalars@field_names"):
        need(name not in seen and name not in taken, f"/scalars/{name}: the name is used twice",
             "field, scalar and axis names all distinct", f"also {seen.get(name, 'a coordinate')}")
        seen[name] = f"/scalars/{name}"
        ds = dataset(sg, name, f"/scalars/{name}", listed=True)
        numeric(ds, f"/scalars/{name}")
        shape = (((B,) if flag(ds.attrs, "sample_varying", f"/scalars/{name}", default=False) else ()) +
                 ((T,) if flag(ds.attrs, "time_varying", f"/scalars/{name}", default=False) else ()))
        need(ds.shape == shape, f"/scalars/{name} breaks the shape rule", shape, ds.shape)
        _check_units_attr(ds, where)
    for key in f["boundary_conditions"]:
        g = f["boundary_conditions"].get(key, getclass=False)
        what = f"/boundary_conditions/{key}"
        need(isinstance(g, h5py.Group), f"{what} is not a group", "a group with @bc_type and a mask",
             type(g).__name__)
        need("bc_type" in g.attrs and _is_str(g.attrs["bc_type"]) and attr_str(g.attrs["bc_type"]).upper()
             in BC_TYPES, f"{what} has no valid @bc_type", "WALL, OPEN or PERIODIC", g.attrs.get("bc_type"))
        need("associated_dims" in g.attrs, f"{what} is incomplete", "@associated_dims and a mask dataset",
             f"{sorted(g.attrs)} / {sorted(g)}")
        assoc = names(g.attrs["associated_dims"], f"{what}@associated_dims")
        need(len(assoc) >= 1, f"{what} names no axis", "at least one of " + str(axes), assoc)
        for a in assoc:
            need(a in axes, f"{what} names an unknown axis", axes, a)
        mask = dataset(g, "mask", f"{what}/mask")
        need(mask.dtype.kind in "biu", f"{what}/mask has the wrong dtype", "bool", str(mask.dtype))
        expected = tuple(sizes[axes.index(a)] for a in assoc)
        need(mask.shape == expected, f"{what}/mask has the wrong shape", f"{expected} (the associated axes)",
             mask.shape)


def _check_units_attr(ds: h5py.Dataset, where: str) -> None:
    if "units" in ds.attrs and not _is_str(ds.attrs["units"]):
        raise WellFormatError(f"{ds.name}@units is not a string", field=where, expected="a CF units string",
                              received=repr(ds.attrs["units"])[:80])
