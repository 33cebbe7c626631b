"""xarray backend so that ``xr.open_dataset(path, engine="well")`` reads Well HDF5 files.

Registered in pyproject under ``xarray.backends`` as ``well``. Variables are read lazily: each
is an h5py-backed array that reads only the slices xarray asks for.
"""

from __future__ import annotations

import os
import threading

import h5py
import numpy as np
import xarray as xr
from xarray.backends import BackendArray, BackendEntrypoint
from xarray.core import indexing

from walrus.io.well import COMPONENT_DIMS, GROUPS, SAMPLE_DIM, TIME_DIM, _bool, _names, _open, _validate, \
    effective_boundaries
from walrus.boundaries import format_axis

__all__ = ["WellBackendEntrypoint", "WellBackendArray"]

_LOCK = threading.Lock()


class WellBackendArray(BackendArray):
    """One HDF5 dataset, read on demand with basic (slice/int) indexing."""

    def __init__(self, path: str, key: str, shape: tuple, dtype):
        self.path, self.key, self.shape, self.dtype = path, key, shape, np.dtype(dtype)

    def __getitem__(self, key):
        return indexing.explicit_indexing_adapter(key, self.shape, indexing.IndexingSupport.OUTER_1VECTOR,
                                                  self._raw)

    def _raw(self, key: tuple):
        with _LOCK, h5py.File(self.path, "r") as f:
            ds = f[self.key]
            return np.asarray(ds[key] if ds.shape else ds[()])


def _lazy(path, ds: h5py.Dataset):
    return indexing.LazilyIndexedArray(WellBackendArray(path, ds.name, ds.shape, ds.dtype))


def _units(ds):
    return {"units": str(ds.attrs["units"])} if "units" in ds.attrs else {}


class WellBackendEntrypoint(BackendEntrypoint):
    """Open a Well HDF5 file in walrus's xarray layout (see :mod:`walrus.io.well`)."""

    description = "The Well's HDF5 format (PolymathicAI), with walrus's CF units attributes"
    url = "https://github.com/PolymathicAI/the_well"
    open_dataset_parameters = ("filename_or_obj", "drop_variables")

    def open_dataset(self, filename_or_obj, *, drop_variables=None):
        path = os.fspath(filename_or_obj)
        drop = set(drop_variables or ())
        with _open(path) as f:
            _validate(f, path)
            dims = f["dimensions"]
            axes = _names(dims.attrs["spatial_dims"])
            coords = {}
            tds = dims["time"]
            if _bool(tds.attrs["sample_varying"]):
                coords["sample_time"] = xr.Variable((SAMPLE_DIM, TIME_DIM), tds[()], _units(tds))
            else:
                coords[TIME_DIM] = xr.Variable((TIME_DIM,), tds[()], _units(tds))
            for a in axes:
                coords[a] = xr.Variable((a,), dims[a][()], _units(dims[a]))
            data_vars = {}
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
                    data_vars[name] = xr.Variable(vdims, _lazy(path, ds), _units(ds))
                    max_rank = max(max_rank, order)
            sg = f["scalars"]
            for name in _names(sg.attrs["field_names"]) if np.size(sg.attrs["field_names"]) else []:
                if name in drop:
                    continue
                ds = sg[name]
                vdims = (((SAMPLE_DIM,) if _bool(ds.attrs.get("sample_varying", False)) else ()) +
                         ((TIME_DIM,) if _bool(ds.attrs.get("time_varying", False)) else ()))
                data_vars[name] = xr.Variable(vdims, ds[()], _units(ds))
            for cdim in COMPONENT_DIMS[:max_rank]:
                coords[cdim] = xr.Variable((cdim,), np.array(axes, dtype=object))
            attrs = {"dataset_name": str(f.attrs["dataset_name"]), "grid_type": str(f.attrs["grid_type"]),
                     "spatial_dims": " ".join(axes)}
            for a, codes in effective_boundaries(f).items():
                attrs[f"bc_{a}"] = format_axis(codes)
        return xr.Dataset(data_vars, coords=coords, attrs=attrs)

    def guess_can_open(self, filename_or_obj) -> bool:
        try:
            path = os.fspath(filename_or_obj)
        except TypeError:
            return False
        if not os.path.splitext(path)[1] in (".hdf5", ".h5"):
            return False
        try:
            with h5py.File(path, "r") as f:
                return "t0_fields" in f and "n_spatial_dims" in f.attrs
        except OSError:
            return False
