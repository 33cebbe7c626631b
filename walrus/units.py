"""The one pint unit registry walrus uses, CF/UDUNITS-aware.

CF files write units as ``m s-1``, ``kg m-3`` or ``1``; cf-xarray's registry parses those and
formats units back the same way, so values and units survive a netCDF round trip exactly.
pint-xarray needs ``force_ndarray_like``; ``setup_registry`` sets it.

The registry is set up once, here. cf-xarray builds it at import time by redefining units pint
already has (``C``, ``d``, ``h``, ``year``, ``degrees``, ``[speed]``, ...); pint logs each as a
"Redefining" warning, which any logging handler (Dedalus installs one on the root logger when
xarray loads its backend) prints on the first open of a file. Those expected redefinitions are
dropped while cf-xarray is imported, and only then.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pint
import pint_xarray

from walrus.errors import UnitError

__all__ = ["ureg", "parse_units", "format_units", "check_compatible", "conversion", "same_units"]


class _DropRedefinitions(logging.Filter):
    """Drops pint's "Redefining '...'" log records (cf-xarray's deliberate overrides)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Redefining '")


def _cf_registry() -> pint.UnitRegistry:
    """cf-xarray's registry, imported without its redefinition log records or its matplotlib notice."""
    pint_logger = logging.getLogger("pint.util")  # where pint's registry logs redefinitions
    quiet = _DropRedefinitions()
    pint_logger.addFilter(quiet)
    try:
        with warnings.catch_warnings():
            # cf-xarray warns when matplotlib is missing; walrus does not plot with units
            warnings.filterwarnings("ignore", message=r"Import\(s\) unavailable to set up matplotlib",
                                    category=UserWarning)
            import cf_xarray.units  # registers the "cf" unit format too
    finally:
        pint_logger.removeFilter(quiet)
    return cf_xarray.units.units


ureg: pint.UnitRegistry = pint_xarray.setup_registry(_cf_registry())
pint.set_application_registry(ureg)


def parse_units(units, *, field: str | None = None) -> pint.Unit:
    """Parse a unit string (CF or pint syntax) or pass a pint Unit through; '' and None mean dimensionless."""
    if isinstance(units, pint.Unit):
        return ureg.Unit(str(units)) if units._REGISTRY is not ureg else units
    if units is None or (isinstance(units, str) and units.strip() in ("", "1", "dimensionless")):
        return ureg.dimensionless
    if not isinstance(units, str):
        raise UnitError("units must be a string", field=field, expected="e.g. 'm s-1'", received=repr(units)[:80])
    if len(units) > 200:
        raise UnitError("unit string too long", field=field, expected="at most 200 characters",
                        received=f"{len(units)} characters")
    try:
        return ureg.Unit(units)
    except Exception as exc:  # pint raises several types for bad input
        raise UnitError("cannot parse units", field=field, expected="a CF/UDUNITS or pint unit string",
                        received=repr(units)) from exc


def format_units(units, *, field: str | None = None) -> str:
    """The CF spelling (``m s-1``, ``1``) of a unit, as written into files."""
    u = parse_units(units, field=field)
    try:
        return f"{u:cf}"
    except Exception as exc:  # units pint parses but cannot spell in CF (e.g. fractional powers)
        raise UnitError("units cannot be written in CF syntax", field=field, expected="a CF/UDUNITS unit",
                        received=repr(units)[:80]) from exc


def same_units(a, b) -> bool:
    """True when two unit spellings mean exactly the same unit."""
    return parse_units(a) == parse_units(b)


def check_compatible(received, expected, *, field: str | None = None) -> None:
    """Raise UnitError naming the field unless ``received`` converts to ``expected``."""
    r, e = parse_units(received, field=field), parse_units(expected, field=field)
    if r.dimensionality != e.dimensionality:
        raise UnitError("incompatible units", field=field,
                        expected=f"units of dimension {e.dimensionality} (e.g. '{format_units(e)}')",
                        received=f"'{format_units(r)}' of dimension {r.dimensionality}")


def conversion(values, received, expected, *, field: str | None = None):
    """Convert numbers from ``received`` to ``expected`` units (a no-op, same object, when equal)."""
    check_compatible(received, expected, field=field)
    r, e = parse_units(received), parse_units(expected)
    if r == e:
        return values
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            q = ureg.Quantity(np.asarray(values), r).to(e).magnitude
    except Exception as exc:  # offset units in products (degC m-1), ...
        raise UnitError("cannot convert", field=field, expected=f"values convertible to '{e}'",
                        received=f"values in '{r}' ({exc})") from exc
    if hasattr(values, "dtype") and np.issubdtype(values.dtype, np.floating):
        q = q.astype(values.dtype, copy=False)
    return q
