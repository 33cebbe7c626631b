"""A pre-check that keeps libhdf5 from hanging on one kind of corrupt file.

HDF5 keeps variable-length data (string attributes, netCDF dimension lists) in *global heap
collections*. libhdf5 walks a collection object by object, advancing by each object's stored size,
and a corrupt size of zero makes that walk loop forever inside C code that Python cannot interrupt
(found by fuzzing: one flipped byte in a netCDF file written by walrus hung ``open_dataset``). This
module walks the collections the same way, in Python, before libhdf5 sees the file, and refuses a
file whose walk would not advance.
"""

from __future__ import annotations

import mmap
import struct
from pathlib import Path

from walrus.errors import WellFormatError

__all__ = ["check_global_heaps"]

_SIGNATURE = b"GCOL\x01\x00\x00\x00"  # signature, version 1, three reserved zero bytes
_HEADER = 16        # collection header: signature + version + reserved (8) + collection size (8)
_OBJECT_HEADER = 16  # object header: index (2), reference count (2), reserved (4), size (8)
_MIN_COLLECTION = 4096  # libhdf5 never writes a smaller collection


def check_global_heaps(path) -> None:
    """Raise WellFormatError if a global heap collection of the HDF5 file ``path`` is corrupt in a
    way that would make libhdf5 loop forever. Files that are not HDF5 pass (other checks refuse them)."""
    path = Path(path)
    with open(path, "rb") as f:
        try:
            data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except ValueError:  # an empty file
            return
        with data:
            start = data.find(_SIGNATURE)
            while start >= 0:
                _walk(data, start, path)
                start = data.find(_SIGNATURE, start + 1)


def _walk(data: mmap.mmap, start: int, path: Path) -> None:
    (size,) = struct.unpack_from("<Q", data, start + 8) if start + _HEADER <= len(data) else (0,)
    if size < _MIN_COLLECTION or start + size > len(data):
        return  # not a collection (the signature bytes appear in data by chance), or truncated: h5py refuses it
    end, p = start + size, start + _HEADER
    while p + _OBJECT_HEADER <= end:
        index = struct.unpack_from("<H", data, p)[0]
        (length,) = struct.unpack_from("<Q", data, p + 8)
        need = _OBJECT_HEADER + -(-length // 8) * 8 if index > 0 else length
        if need <= 0:
            raise WellFormatError("corrupt HDF5 global heap (an object of size 0 would hang libhdf5)",
                                  field=str(path), expected="a readable HDF5/netCDF file",
                                  received=f"a zero-size heap object at byte {p}")
        p += need
