"""Unit-aware xarray I/O: the ``ds.walrus`` accessor, netCDF read/write, unit conversion.

Units live in CF ``units`` attributes on disk (``m s-1``, ``kg m-3``, ``1``) and as pint
quantities (pint-xarray, CF-aware registry from :mod:`walrus.units`) in memory. netCDF files are
written atomically and round-trip values, dtypes and units exactly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
import pint
import xarray as xr

from walrus.errors import UnitError, WellFormatError
from walrus.io.atomic import atomic_path
from walrus.units import check_compatible, format_units, parse_units, ureg

__all__ = ["quantify", "dequantify", "is_quantified", "units_of", "convert_units", "to_netcdf", "open_dataset",
           "WalrusAccessor"]


def is_quantified(ds: xr.Dataset | xr.DataArray) -> bool:
    """True when any variable or coordinate holds a pint Quantity."""
    variables = ds.variables.values() if isinstance(ds, xr.Dataset) else [ds.variable, *ds.coords.values()]
    return any(isinstance(getattr(v, "data", None), pint.Quantity) for v in variables)


def quantify(ds: xr.Dataset) -> xr.Dataset:
    """Turn every ``units`` attribute into pint units (CF-aware registry); variables without one stay plain."""
    if is_quantified(ds):
        return ds
    for name, v in ds.variables.items():
        if "units" in v.attrs:
            parse_units(v.attrs["units"], field=str(name))  # walrus error naming the variable
    return ds.pint.quantify(unit_registry=ureg)


def dequantify(ds: xr.Dataset) -> xr.Dataset:
    """Pint quantities back to plain arrays with CF ``units`` attributes (``m s-1`` style)."""
    if not is_quantified(ds):
        return ds
    return ds.pint.dequantify(format="cf")


def units_of(ds: xr.Dataset) -> dict[str, str]:
    """CF unit strings of every variable and coordinate that has units."""
    out = {}
    for name, v in ds.variables.items():
        if isinstance(v.data, pint.Quantity):
            out[str(name)] = format_units(v.data.units)
        elif "units" in v.attrs:
            out[str(name)] = format_units(v.attrs["units"])
    return out


def convert_units(ds: xr.Dataset, units: Mapping[str, str]) -> xr.Dataset:
    """Return ``ds`` with the named variables converted to ``units`` (attribute form kept).

    A variable without units raises UnitError (walrus never guesses); incompatible dimensions
    raise UnitError naming the variable, the expected and the received units.
    """
    quantified = is_quantified(ds)
    plain = dequantify(ds)
    out = plain.copy()
    for name, target in units.items():
        if name not in plain.variables:
            raise UnitError("no such variable to convert", field=name, expected=f"one of {list(plain.variables)}",
                            received=repr(name))
        v = plain[name].variable
        if "units" not in v.attrs:
            raise UnitError("variable has no units to convert from", field=name,
                            expected=f"a 'units' attribute compatible with '{format_units(target)}'", received="none")
        check_compatible(v.attrs["units"], target, field=name)
        src, dst = parse_units(v.attrs["units"]), parse_units(target)
        values = v.values
        if src != dst:
            values = ureg.Quantity(np.asarray(values), src).to(dst).magnitude.astype(v.dtype, copy=False)
        new = xr.Variable(v.dims, values, dict(v.attrs, units=format_units(dst)), v.encoding)
        if name in plain.indexes:
            out = out.assign_coords({name: new})
        elif name in plain.coords:
            out = out.assign_coords({name: new})
        else:
            out[name] = new
    return quantify(out) if quantified else out


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
        from walrus.io.well import read_well_file
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

        Fields without units are left as they are (taken as already in model units).
        """
        from walrus.fields import FIELDS
        fs = fieldset or FIELDS
        targets = {}
        for name, v in dequantify(self._ds).data_vars.items():
            if name in fs and "units" in v.attrs:
                targets[str(name)] = fs[name].units
        return convert_units(self._ds, targets)

    # geometry
    @property
    def spatial_dims(self) -> list[str]:
        from walrus.io.well import dataset_axes
        return dataset_axes(self._ds)

    @property
    def boundary_conditions(self) -> dict[str, tuple[int, int]]:
        from walrus.io.well import dataset_boundaries
        return dataset_boundaries(self._ds, self.spatial_dims)

    def with_boundary_conditions(self, bcs: Mapping[str, object]) -> xr.Dataset:
        from walrus.boundaries import format_axis, parse_boundaries
        codes = parse_boundaries(bcs, self.spatial_dims)
        return self._ds.assign_attrs({f"bc_{a}": format_axis(c) for a, c in codes.items()})

    # output
    def to_netcdf(self, path, **kw) -> Path:
        return to_netcdf(self._ds, path, **kw)

    def to_well(self, path, **kw) -> Path:
        from walrus.io.well import write_dataset
        return write_dataset(self._ds, path, **kw)

    def to_state(self, **kw):
        from walrus.state import State
        return State.from_dataset(self._ds, **kw)

