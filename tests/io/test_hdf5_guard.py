"""The global-heap pre-check: a corrupt heap object that would hang libhdf5 is refused first."""

import re
import struct

import numpy as np
import pytest
import xarray as xr

import walrus.io
from walrus.errors import WellFormatError
from walrus.io.hdf5_guard import check_global_heaps


def _collections(raw: bytes):
    for m in re.finditer(b"GCOL\x01\x00\x00\x00", raw):
        yield m.start(), struct.unpack_from("<Q", raw, m.start() + 8)[0]


def _free_space_object(raw: bytes, start: int, size: int) -> int:
    """Offset of the collection's free-space object (index 0), walking as libhdf5 does."""
    p = start + 16
    while p + 16 <= start + size:
        index, length = struct.unpack_from("<H", raw, p)[0], struct.unpack_from("<Q", raw, p + 8)[0]
        if index == 0:
            return p
        p += 16 + -(-length // 8) * 8
    raise AssertionError("no free-space object")


@pytest.fixture
def netcdf(tmp_path):
    ds = xr.Dataset({"pressure": (("time", "x"), np.arange(12.0).reshape(3, 4), {"units": "Pa"})},
                    coords={"time": ("time", [0.0, 1.0, 2.0], {"units": "s"}), "x": ("x", np.arange(4.0))})
    return walrus.io.to_netcdf(ds, tmp_path / "small.nc")


def test_a_valid_netcdf_passes_and_opens(netcdf):
    raw = netcdf.read_bytes()
    assert list(_collections(raw)), "netCDF-4 files keep dimension lists in a global heap"
    check_global_heaps(netcdf)
    assert walrus.io.open_dataset(netcdf)["pressure"].shape == (3, 4)


def test_a_heap_walk_that_would_not_advance_is_refused_before_libhdf5(netcdf):
    # What fuzzing found: one flipped byte shortened the free-space object so the walk lands on a
    # zero-size object; libhdf5 then loops forever in H5HG__cache_heap_deserialize.
    raw = bytearray(netcdf.read_bytes())
    start, size = next(_collections(raw))
    free = _free_space_object(raw, start, size)
    remaining = start + size - free
    struct.pack_into("<Q", raw, free + 8, remaining - 64)      # the walk now stops 64 bytes short ...
    raw[start + size - 64: start + size] = bytes(64)           # ... on zeros: index 0, size 0
    netcdf.write_bytes(bytes(raw))
    with pytest.raises(WellFormatError, match="global heap"):
        walrus.io.open_dataset(netcdf)
    with pytest.raises(WellFormatError, match=str(netcdf.name)):
        check_global_heaps(netcdf)
