"""Units on xarray Datasets: CF ``units`` attributes <-> pint quantities, and unit conversion.

Units live in CF ``units`` attributes on disk (``m s-1``, ``kg m-3``, ``1``) and as pint
quantities (pint-xarray, CF-aware registry from :mod:`walrus.units`) in memory. Kept apart from
the file formats so that the Well reader/writer and the netCDF/accessor module can all use it
without importing each other.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pint
import xarray as xr

from walrus.errors import UnitError
from walrus.units import check_compatible, format_units, parse_units, ureg

__all__ = ["is_quantified", "quantify", "dequantify", "units_of", "convert_units"]


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
        if name in plain.coords:
            out = out.assign_coords({name: new})
        else:
            out[name] = new
    return quantify(out) if quantified else out
