"""xarray I/O: the ``ds.walrus`` accessor, netCDF read/write, and opening any supported file.

The unit handling itself is in :mod:`walrus.io.quantities` (re-exported here); The Well's HDF5
format is in :mod:`walrus.io.well_reader` / :mod:`walrus.io.well_writer`. netCDF files are
written atomically and round-trip values, dtypes and units exactly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import xarray as xr

from walrus.atomic import atomic_path
from walrus.boundaries import format_axis, parse_boundaries
from walrus.errors import WellFormatError
from walrus.io.quantities import convert_units, dequantify, is_quantified, quantify, units_of
from walrus.io.schema import dataset_axes, dataset_boundaries
from walrus.io.well_reader import read_well_file
from walrus.io.well_writer import write_dataset

__all__ = ["quantify", "dequantify", "is_quantified", "units_of", "convert_units", "to_netcdf", "open_dataset",
           "WalrusAccessor"]


def to_netcdf(ds: xr.Dataset, path, *, engine: str = "netcdf4") -> Path:
    """Write ``ds`` to netCDF atomically, with CF ``units`` attributes; returns the path."""
    plain = dequantify(ds)
    path = Path(path)
    with atomic_path(path) as tmp:
        plain.to_netcdf(tmp, engine=engine)
    return path


def _is_well_file(path: Path) -> bool:
    import h5py
    try:
        with h5py.File(path, "r") as f:
            return "t0_fields" in f and "dimensions" in f and "n_spatial_dims" in f.attrs
    except OSError:
        return False


def open_dataset(path, *, quantify_units: bool = False) -> xr.Dataset:
    """Open a netCDF file or a Well HDF5 file as a Dataset, loaded into memory.

    Times are not decoded (simulation time stays a float in its units). With ``quantify_units``
    the result holds pint quantities.
    """
    path = Path(path)
    if not path.is_file():
        raise WellFormatError("no such file", field=str(path), expected="an existing netCDF or Well file",
                              received="nothing at that path")
    if _is_well_file(path):
        ds = read_well_file(path)
    else:
        try:
            with xr.open_dataset(path, decode_times=False, decode_timedelta=False) as raw:
                ds = raw.load()
        except (OSError, ValueError) as exc:
            raise WellFormatError("cannot be read as netCDF or as a Well file", field=str(path),
                                  expected="a netCDF or Well HDF5 file", received=str(exc)) from exc
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
