"""xarray I/O: the ``ds.walrus`` accessor, netCDF read/write, and opening any supported file.

The unit handling itself is in :mod:`walrus.io.quantities` (re-exported here); The Well's HDF5
format is in :mod:`walrus.io.well_reader` / :mod:`walrus.io.well_writer`. netCDF files are
written atomically and round-trip values, dtypes and units exactly.

As with Well files, NaN and inf are refused on the way out (:class:`~walrus.errors.ShapeError`) and
on the way in (:class:`~walrus.errors.WellFormatError` naming the file and the variable), and any
file that cannot be read (truncated, damaged, foreign) raises WellFormatError, never a raw
netCDF4/h5py error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
import xarray as xr

from walrus.atomic import atomic_path
from walrus.boundaries import format_axis, parse_boundaries
from walrus.errors import ShapeError, WellFormatError
from walrus.io.hdf5_guard import check_global_heaps
from walrus.io.quantities import convert_units, dequantify, is_quantified, quantify, units_of
from walrus.io.schema import dataset_axes, dataset_boundaries
from walrus.io.well_reader import read_well_file
from walrus.io.well_writer import write_dataset

__all__ = ["quantify", "dequantify", "is_quantified", "units_of", "convert_units", "to_netcdf", "open_dataset",
           "WalrusAccessor"]


def to_netcdf(ds: xr.Dataset, path, *, engine: str = "netcdf4") -> Path:
    """Write ``ds`` to netCDF atomically, with CF ``units`` attributes; returns the path.

    Non-finite values (NaN, inf) are refused with a ShapeError naming the variable, as the Well
    writer refuses them: readers treat them as damage.
    """
    plain = dequantify(ds)
    for name, v in plain.variables.items():
        if v.dtype.kind in "fc" and v.size:
            finite = np.isfinite(np.asarray(v.values))
            if not finite.all():
                n_nan = int(np.isnan(np.asarray(v.values)).sum())
                raise ShapeError("contains non-finite values", field=str(name), expected="finite numbers",
                                 received=f"{n_nan} NaN and {int((~finite).sum()) - n_nan} infinite of "
                                          f"{v.size} values")
    path = Path(path)
    with atomic_path(path) as tmp:
        plain.to_netcdf(tmp, engine=engine)
    return path


_WELL_GROUPS = ("t0_fields", "t1_fields", "t2_fields", "boundary_conditions")


def _is_well_file(path: Path) -> bool:
    """An HDF5 file that looks like a Well file (even a damaged one), not a netCDF-4 file."""
    import h5py
    try:
        with h5py.File(path, "r") as f:
            if "_NCProperties" in f.attrs:  # written by the netCDF library
                return False
            return "n_spatial_dims" in f.attrs or any(g in f for g in _WELL_GROUPS)
    except Exception:  # not HDF5 (netCDF-3, foreign, truncated): the netCDF path reports it
        return False


def _check_loaded(ds: xr.Dataset, path: Path) -> None:
    for name, v in ds.variables.items():
        if v.dtype.kind in "fc" and v.size:
            a = np.asarray(v.values)
            finite = np.isfinite(a)
            if not finite.all():
                n_nan = int(np.isnan(a).sum())
                raise WellFormatError(f"variable {name!r} contains non-finite values", field=str(path),
                                      expected="finite numbers (walrus's writers refuse NaN and inf)",
                                      received=f"{n_nan} NaN and {int((~finite).sum()) - n_nan} infinite of "
                                               f"{a.size} values")


def open_dataset(path, *, quantify_units: bool = False) -> xr.Dataset:
    """Open a netCDF file or a Well HDF5 file as a Dataset, loaded into memory.

    Times are not decoded (simulation time stays a float in its units). With ``quantify_units``
    the result holds pint quantities. A file that cannot be read, or holds NaN/inf (netCDF fill
    values decode to NaN), raises WellFormatError naming the file and the variable.
    """
    path = Path(path)
    if not path.is_file():
        raise WellFormatError("no such file", field=str(path), expected="an existing netCDF or Well file",
                              received="nothing at that path")
    check_global_heaps(path)  # before libhdf5 (netCDF-4 is HDF5) parses anything: see walrus.io.hdf5_guard
    if _is_well_file(path):
        ds = read_well_file(path)
    else:
        try:
            # netCDF4 reads every netCDF flavour; naming it spares xarray probing every installed
            # backend (Dedalus registers one, whose import costs ~0.3 s and prints threading warnings)
            with xr.open_dataset(path, engine="netcdf4", decode_times=False, decode_timedelta=False) as raw:
                ds = raw.load()
        except Exception as exc:  # netCDF4 raises OSError, RuntimeError, KeyError, ... on damaged files
            raise WellFormatError("cannot be read as netCDF or as a Well file", field=str(path),
                                  expected="a netCDF or Well HDF5 file",
                                  received=f"{type(exc).__name__}: {str(exc)[:300]}") from exc
        _check_loaded(ds, path)
    return quantify(ds) if quantify_units else ds


@xr.register_dataset_accessor("walrus")
class WalrusAccessor:
    """``ds.walrus``: units, conversion, netCDF/Well output and State conversion for a Dataset."""

    def __init__(self, ds: xr.Dataset):
        self._ds = ds

    # units
    def quantify(self) -> xr.Dataset:
        return quantify(self._ds)

    def dequantify(self) -> xr.Dataset:
        return dequantify(self._ds)

    @property
    def units(self) -> dict[str, str]:
        return units_of(self._ds)

    def convert(self, units: Mapping[str, str]) -> xr.Dataset:
        return convert_units(self._ds, units)

    def to_model_units(self, fieldset=None) -> xr.Dataset:
        """Convert every known field to its canonical units (the units the model expects).

        ``fieldset`` defaults to the release's fields plus every registered plugin's
        (:func:`walrus.plugins.fieldset`). Fields without units are left as they are (taken as
        already in model units).
        """
        if fieldset is None:
            from walrus.plugins import fieldset as registered_fieldset  # lazy: loads the plugins
            fieldset = registered_fieldset()
        targets = {}
        for name, v in dequantify(self._ds).data_vars.items():
            if name in fieldset and "units" in v.attrs:
                targets[str(name)] = fieldset[name].units
        return convert_units(self._ds, targets)

    # geometry
    @property
    def spatial_dims(self) -> list[str]:
        return dataset_axes(self._ds)

    @property
    def boundary_conditions(self) -> dict[str, tuple[int, int]]:
        return dataset_boundaries(self._ds, self.spatial_dims)

    def with_boundary_conditions(self, bcs: Mapping[str, object]) -> xr.Dataset:
        codes = parse_boundaries(bcs, self.spatial_dims)
        return self._ds.assign_attrs({f"bc_{a}": format_axis(c) for a, c in codes.items()})

    # output
    def to_netcdf(self, path, **kw) -> Path:
        return to_netcdf(self._ds, path, **kw)

    def to_well(self, path, **kw) -> Path:
        return write_dataset(self._ds, path, **kw)
