"""Read Well HDF5 files into walrus's xarray layout (see :mod:`walrus.io.schema`).

Files written by walrus carry CF ``units`` attributes, which become the variables' ``units``
attributes; The Well's own files have none, and give variables without units. Boundary
conditions are derived from the masks exactly as The Well's loader derives them.
"""

from __future__ import annotations

import h5py
import numpy as np
import xarray as xr

from walrus.boundaries import OPEN, PERIODIC, WALL, format_axis
from walrus.errors import WellFormatError
from walrus.io.quantities import quantify as _quantify
from walrus.io.schema import COMPONENT_DIMS, GROUPS, SAMPLE_DIM, TIME_DIM
from walrus.io.well_check import (attr_bool, attr_names, attr_str, group_names, open_well, read_checked,
                                   validate)

__all__ = ["read_well_file", "dataset_from_file", "effective_boundaries"]


def effective_boundaries(f: h5py.File) -> dict[str, tuple[int, int]]:
    """(low, high) codes per axis as The Well's loader derives them from the masks.

    Unspecified sides are OPEN; WALL needs every mask entry on that side True, OPEN/PERIODIC any.
    """
    axes = attr_names(f["dimensions"].attrs["spatial_dims"])
    out = {a: [OPEN, OPEN] for a in axes}
    codes = {"WALL": WALL, "OPEN": OPEN, "PERIODIC": PERIODIC}
    for g in f["boundary_conditions"].values():
        kind = attr_str(g.attrs["bc_type"]).upper()
        assoc = attr_names(g.attrs["associated_dims"])
        mask = np.asarray(g["mask"][()]).astype(bool)
        for i, a in enumerate(assoc):
            agg = np.min if kind == "WALL" else np.max
            for side, index in ((0, 0), (1, -1)):
                sl = tuple(index if j == i else slice(None) for j in range(len(assoc)))
                if agg(mask[sl]):
                    out[a][side] = codes[kind]
    return {a: (lo, hi) for a, (lo, hi) in out.items()}


def _attrs(ds: h5py.Dataset) -> dict:
    return {"units": attr_str(ds.attrs["units"])} if "units" in ds.attrs else {}


def dataset_from_file(f: h5py.File, read=None, drop=(), where: str | None = None) -> xr.Dataset:
    """Build the walrus-layout Dataset of an open, validated Well file.

    ``read(h5py_dataset)`` supplies each field's data: eager arrays (the default, checked finite)
    or lazy wrappers (the xarray backend). Variables named in ``drop`` are skipped. Coordinates and
    scalars are always read here and checked finite; every error names the file (``where``).
    """
    where = where or str(f.filename)
    if read is None:
        def read(ds):
            return read_checked(ds, where)
    try:
        return _dataset_from_file(f, read, drop, where)
    except WellFormatError:
        raise
    except Exception as exc:  # a damaged file (h5py OSError/RuntimeError) or one validate() did not foresee
        raise WellFormatError("unreadable Well file", field=where, expected="readable, consistent datasets",
                              received=f"{type(exc).__name__}: {exc}") from exc


def _dataset_from_file(f: h5py.File, read, drop, where: str) -> xr.Dataset:
    dims = f["dimensions"]
    axes = attr_names(dims.attrs["spatial_dims"])
    coords: dict = {}
    tds = dims["time"]
    if attr_bool(tds.attrs["sample_varying"]):
        coords["sample_time"] = ((SAMPLE_DIM, TIME_DIM), read_checked(tds, where), _attrs(tds))
    else:
        coords[TIME_DIM] = ((TIME_DIM,), read_checked(tds, where), _attrs(tds))
    for a in axes:
        if attr_bool(dims[a].attrs.get("sample_varying", False)):
            coords[f"sample_{a}"] = ((SAMPLE_DIM, a), read_checked(dims[a], where), _attrs(dims[a]))
        else:
            coords[a] = ((a,), read_checked(dims[a], where), _attrs(dims[a]))
    data_vars: dict = {}
    max_rank = 0
    for order, grp in enumerate(GROUPS):
        g = f[grp]
        for name in group_names(g):
            if name in drop:
                continue
            ds = g[name]
            dv = np.atleast_1d(ds.attrs["dim_varying"]).astype(bool)
            vdims = (((SAMPLE_DIM,) if attr_bool(ds.attrs["sample_varying"]) else ()) +
                     ((TIME_DIM,) if attr_bool(ds.attrs["time_varying"]) else ()) +
                     tuple(a for a, v in zip(axes, dv) if v) + COMPONENT_DIMS[:order])
            data_vars[name] = (vdims, read(ds), _attrs(ds))
            max_rank = max(max_rank, order)
    sg = f["scalars"]
    for name in group_names(sg):
        if name in drop:
            continue
        ds = sg[name]
        vdims = (((SAMPLE_DIM,) if attr_bool(ds.attrs.get("sample_varying", False)) else ()) +
                 ((TIME_DIM,) if attr_bool(ds.attrs.get("time_varying", False)) else ()))
        data_vars[name] = (vdims, read_checked(ds, where), _attrs(ds))
    for cdim in COMPONENT_DIMS[:max_rank]:
        coords[cdim] = ((cdim,), np.array(axes, dtype=object))
    attrs = {"dataset_name": attr_str(f.attrs["dataset_name"]), "grid_type": attr_str(f.attrs["grid_type"]),
             "spatial_dims": " ".join(axes)}
    for a, codes in effective_boundaries(f).items():
        attrs[f"bc_{a}"] = format_axis(codes)
    if "unit_scaling" in f.attrs:  # what one code unit is, for generated data (walrus generate)
        attrs["unit_scaling"] = attr_str(f.attrs["unit_scaling"])
    return xr.Dataset(data_vars, coords=coords, attrs=attrs)


def read_well_file(path, *, quantify: bool = False) -> xr.Dataset:
    """Read a Well file into an xarray Dataset (layout in :mod:`walrus.io.schema`), units as attributes.

    Files without units (The Well's own) give variables without ``units`` attributes.
    With ``quantify=True`` the result holds pint quantities (CF-aware registry).

    Raises WellFormatError naming the file and the dataset or attribute for anything damaged:
    a truncated or foreign file, a schema violation, unreadable data, NaN or inf in any variable.
    """
    with open_well(path) as f:
        validate(f, str(path))
        out = dataset_from_file(f, where=str(path))
    return _quantify(out) if quantify else out
