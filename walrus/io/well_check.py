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
from walrus.io.schema import GROUPS

__all__ = ["open_well", "validate", "check_well_file", "attr_bool", "attr_str", "attr_names", "group_names"]

BC_TYPES = ("WALL", "OPEN", "PERIODIC")


def open_well(path) -> h5py.File:
    """Open ``path`` read-only; WellFormatError if it is missing or not HDF5 (truncated, other format)."""
    path = Path(path)
    if not path.is_file():
        raise WellFormatError("no such file", field=str(path), expected="an existing Well HDF5 file",
                              received="nothing at that path")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
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


def validate(f: h5py.File, where: str) -> None:
    """The Well checker's rules, raising WellFormatError (naming ``where``) on the first violation."""
    try:
        _check_schema(f, where)
    except WellFormatError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, OSError, AttributeError) as exc:
        raise WellFormatError("malformed Well file", field=where, expected="The Well's schema",
                              received=f"{type(exc).__name__}: {exc}") from exc


def check_well_file(path) -> None:
    """Raise WellFormatError unless ``path`` follows The Well's schema (as its checker and loader read it)."""
    with open_well(path) as f:
        validate(f, str(path))


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
    for p in attr_names(f.attrs["simulation_parameters"]) if np.size(f.attrs["simulation_parameters"]) else []:
        need(p in f.attrs, f"simulation parameter {p!r} is not a root attribute", "a root attribute per parameter",
             f"attributes {sorted(f.attrs)}")
    dims = f["dimensions"]
    need("spatial_dims" in dims.attrs, "missing /dimensions@spatial_dims", "a list of axis names", "nothing")
    axes = attr_names(dims.attrs["spatial_dims"])
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
        for name in group_names(g):
            need(name in g, f"/{grp}/{name} is listed but missing", "a dataset", f"{sorted(g)}")
            ds = g[name]
            for flag in ("sample_varying", "time_varying", "dim_varying"):
                need(flag in ds.attrs, f"/{grp}/{name} lacks @{flag}", "the Well flags", f"{sorted(ds.attrs)}")
            dv = np.atleast_1d(ds.attrs["dim_varying"]).astype(bool)
            need(dv.size == D, f"/{grp}/{name}@dim_varying has the wrong length", D, dv.size)
            shape = (((B,) if attr_bool(ds.attrs["sample_varying"]) else ()) +
                     ((T,) if attr_bool(ds.attrs["time_varying"]) else ()) +
                     tuple(n for n, v in zip(sizes, dv) if v) + (D,) * order)
            need(ds.shape == shape, f"/{grp}/{name} breaks the shape rule", shape, ds.shape)
    sg = f["scalars"]
    need("field_names" in sg.attrs, "/scalars lacks @field_names", "a list of names", "nothing")
    for name in group_names(sg):
        need(name in sg, f"/scalars/{name} is listed but missing", "a dataset", f"{sorted(sg)}")
        ds = sg[name]
        shape = (((B,) if attr_bool(ds.attrs.get("sample_varying", False)) else ()) +
                 ((T,) if attr_bool(ds.attrs.get("time_varying", False)) else ()))
        need(ds.shape == shape, f"/scalars/{name} breaks the shape rule", shape, ds.shape)
    for key, g in f["boundary_conditions"].items():
        need("bc_type" in g.attrs and attr_str(g.attrs["bc_type"]).upper() in BC_TYPES,
             f"/boundary_conditions/{key} has no valid @bc_type", "WALL, OPEN or PERIODIC",
             g.attrs.get("bc_type"))
        need("associated_dims" in g.attrs and "mask" in g, f"/boundary_conditions/{key} is incomplete",
             "@associated_dims and a mask dataset", f"{sorted(g.attrs)} / {sorted(g)}")
        for a in attr_names(g.attrs["associated_dims"]):
            need(a in axes, f"/boundary_conditions/{key} names an unknown axis", axes, a)
