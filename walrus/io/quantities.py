"""Units on xarray Datasets: CF ``units`` attributes <-> pint quantities, and unit conversion.

Units live in CF ``units`` attributes on disk (``m s-1``, ``kg m-3``, ``1``) and as pint
quantities (pint-xarray, CF-aware registry from :mod:`walrus.units`) in memory. Kept apart from
the file formats so that the Well reader/writer and the netCDF/accessor module can all use it
without importing each other.
"""

from __future__ import annotations

from typing import Mapping

import pint
import xarray as xr

from walrus.errors import UnitError
from walrus.units import check_compatible, format_units, parse_units, ureg

__all__ = ["is_quantified", "quantify", "dequantify", "units_of", "convert_units"]


def is_quantified(ds: xr.Dataset | xr.DataArray) -> bool:
    """True when any variable or coordinate holds a pint Quantity."""
    variables = ds.variables.values() if isinstance(ds, xr.Dataset) else [ds.variable, *ds.coords.values()]
    return any(isinstance(getattr(v, "data", None), pint.Quantity) for v in variables)


def _pint_reason(exc: Exception) -> str:
    """One line from a pint / pint-xarray error (pint-xarray groups them; its notes name the variable)."""
    subs = exc.exceptions if isinstance(exc, BaseExceptionGroup) else (exc,)
    return "; ".join(" ".join([f"{type(e).__name__}: {e}", *getattr(e, "__notes__", ())]) for e in subs)[:300]


def quantify(ds: xr.Dataset) -> xr.Dataset:
    """Turn every ``units`` attribute into pint units (``ds.pint.quantify``, CF-aware registry).

    Variables without units stay plain. Each attribute is parsed by :func:`walrus.units.parse_units`
    first, so a bad one raises UnitError naming the variable (pint-xarray would raise a group of
    pint errors); pint-xarray then attaches the parsed units.
    """
    if is_quantified(ds):
        return ds
    units = {name: parse_units(v.attrs["units"], field=str(name)) for name, v in ds.variables.items()
             if "units" in v.attrs}
    try:
        return ds.pint.quantify(units, unit_registry=ureg)
    except Exception as exc:  # pint-xarray groups pint's errors (PintExceptionGroup)
        raise UnitError("cannot attach units", field=", ".join(map(str, units)),
                        expected="arrays pint can hold", received=_pint_reason(exc)) from exc


def dequantify(ds: xr.Dataset) -> xr.Dataset:
    """Pint quantities back to plain arrays with CF ``units`` attributes (``ds.pint.dequantify``, ``m s-1`` style)."""
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
    """Return ``ds`` with the named variables converted to ``units`` (``ds.pint.to``; attribute form kept).

    A variable without units raises UnitError (walrus never guesses); incompatible dimensions
    raise UnitError naming the variable, the expected and the received units. Only the named
    variables go through pint-xarray, so the other variables' attributes stay exactly as given
    (even units pint cannot parse, or CF time units such as ``days since 2000-01-01``).
    """
    quantified = is_quantified(ds)
    plain = dequantify(ds)
    sources, targets = {}, {}
    for name, target in units.items():
        if name not in plain.variables:
            raise UnitError("no such variable to convert", field=name, expected=f"one of {list(plain.variables)}",
                            received=repr(name))
        v = plain[name].variable
        if "units" not in v.attrs:
            raise UnitError("variable has no units to convert from", field=name,
                            expected=f"a 'units' attribute compatible with '{format_units(target)}'", received="none")
        check_compatible(v.attrs["units"], target, field=name)  # walrus's message, before pint's
        # pint Units, not strings: pint-xarray 0.6 cannot convert an index coordinate to a unit string
        sources[name], targets[name] = parse_units(v.attrs["units"]), parse_units(target)
    if not targets:
        return ds
    named = plain.drop_vars([n for n in plain.variables if n not in targets])
    try:
        converted = named.pint.quantify(sources, unit_registry=ureg).pint.to(targets).pint.dequantify(format="cf")
    except Exception as exc:  # pint-xarray groups pint's errors; numpy raises its own on non-numeric data
        raise UnitError("cannot convert", field=", ".join(targets),
                        expected=f"values convertible to {({n: format_units(u) for n, u in targets.items()})}",
                        received=_pint_reason(exc)) from exc
    out = plain.copy()
    for name in targets:
        new = converted.variables[name]
        out = out.assign_coords({name: new}) if name in plain.coords else out.assign({name: new})
    return quantify(out) if quantified else out
