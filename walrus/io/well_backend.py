"""xarray backend so that ``xr.open_dataset(path, engine="well")`` reads Well HDF5 files.

Registered in pyproject under ``xarray.backends`` as ``well``. Variables are read lazily: each
is an h5py-backed array that reads only the slices xarray asks for.

Integrity checks stay lazy too: opening validates the schema (attributes, dtypes, shapes, masks;
no field data is read) and checks the coordinates and scalars, which are read at once; field
values are checked for NaN/inf when they are loaded, and a damaged data block or non-finite value
raises WellFormatError (naming the file and the dataset) at that moment, not at open time.
"""

from __future__ import annotations

import os
import threading

import h5py
import numpy as np
from xarray.backends import BackendArray, BackendEntrypoint
from xarray.core import indexing

from walrus.errors import WellFormatError
from walrus.io.well_check import check_finite, open_well, validate
from walrus.io.well_reader import dataset_from_file

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
        try:
            with _LOCK, h5py.File(self.path, "r") as f:
                ds = f[self.key]
                values = np.asarray(ds[key] if ds.shape else ds[()])
        except Exception as exc:  # file changed or damaged since it was opened
            raise WellFormatError(f"cannot read {self.key}", field=self.path, expected="readable data",
                                  received=f"h5py error: {type(exc).__name__}: {exc}") from exc
        return check_finite(values, self.path, self.key)


def _lazy(path, ds: h5py.Dataset):
    return indexing.LazilyIndexedArray(WellBackendArray(path, ds.name, ds.shape, ds.dtype))


class WellBackendEntrypoint(BackendEntrypoint):
    """Open a Well HDF5 file in walrus's xarray layout (see :mod:`walrus.io.schema`)."""

    description = "The Well's HDF5 format (PolymathicAI), with walrus's CF units attributes"
    url = "https://github.com/PolymathicAI/the_well"
    open_dataset_parameters = ("filename_or_obj", "drop_variables")

    def open_dataset(self, filename_or_obj, *, drop_variables=None):
        path = os.fspath(filename_or_obj)
        with open_well(path) as f:
            validate(f, path)
            return dataset_from_file(f, read=lambda ds: _lazy(path, ds), drop=set(drop_variables or ()), where=path)

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
        except Exception:  # not HDF5, truncated, damaged: not ours to open
            return False
