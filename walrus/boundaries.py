"""Boundary-condition codes per axis side, as The Well and the network use them.

The codes (WALL=0, OPEN=1, PERIODIC=2) are defined here, at the bottom of the import graph, so the
model, the I/O and the plugins share them without importing each other. This module also
parses what users write ("wall", "PERIODIC", 2, ("WALL", "OPEN")) into a (low, high) pair and
checks it, so every entry point accepts the same spellings and rejects the same mistakes.
"""

from __future__ import annotations

import math
import numbers
from typing import Mapping, Sequence

from walrus.errors import BoundaryError

__all__ = ["WALL", "OPEN", "PERIODIC", "BOUNDARY_NAMES", "BOUNDARY_CODES", "parse_side", "parse_axis",
           "parse_boundaries", "format_axis"]

WALL, OPEN, PERIODIC = 0, 1, 2
BOUNDARY_NAMES = {WALL: "WALL", OPEN: "OPEN", PERIODIC: "PERIODIC"}
BOUNDARY_CODES = {name: code for code, name in BOUNDARY_NAMES.items()}


def parse_side(value, *, axis: str = "?") -> int:
    """One side's code from a name (any case) or an int code."""
    if isinstance(value, str):
        code = BOUNDARY_CODES.get(value.strip().upper())
        if code is None:
            raise BoundaryError("unknown boundary condition", field=f"axis {axis!r}",
                                expected=f"one of {sorted(BOUNDARY_CODES)}", received=repr(value))
        return code
    code = _integral_code(value)
    if code is None or code not in BOUNDARY_NAMES:
        raise BoundaryError("unknown boundary code", field=f"axis {axis!r}",
                            expected="a name or the integer code 0 (WALL), 1 (OPEN) or 2 (PERIODIC)",
                            received=repr(value)[:80])
    return code


def _integral_code(value) -> int | None:
    """An int from an integer or a whole-number float (2.0), any numpy/torch 0-d scalar included; None for
    anything else (bool, 2.5, NaN, inf, complex, arrays with several values, objects)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, numbers.Integral):
        return int(value)
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0 or getattr(value, "shape", None) in ((), (1,)):
        try:
            value = value.item()
        except Exception:
            return None
        if isinstance(value, bool):
            return None
        if isinstance(value, numbers.Integral):
            return int(value)
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
        f = float(value)
        if math.isfinite(f) and f.is_integer() and abs(f) < 2 ** 31:
            return int(f)
    return None


def parse_axis(value, *, axis: str = "?") -> tuple[int, int]:
    """(low, high) codes from one value (both sides) or a pair; a space-separated 'LOW HIGH' string works too."""
    if isinstance(value, str) and len(value.split()) == 2:
        value = tuple(value.split())
    if getattr(value, "ndim", None) == 1 and hasattr(value, "tolist"):  # a numpy array / tensor pair
        value = value.tolist()
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise BoundaryError("expected one condition per side", field=f"axis {axis!r}",
                                expected="a name or a (low, high) pair", received=repr(value))
        low, high = (parse_side(v, axis=axis) for v in value)
    else:
        low = high = parse_side(value, axis=axis)
    if (low == PERIODIC) != (high == PERIODIC):
        raise BoundaryError("periodic on one side only", field=f"axis {axis!r}",
                            expected="PERIODIC on both sides or on neither",
                            received=f"({BOUNDARY_NAMES[low]}, {BOUNDARY_NAMES[high]})")
    return low, high


def parse_boundaries(bcs: Mapping[str, object], axes: Sequence[str]) -> dict[str, tuple[int, int]]:
    """Codes for every axis, in ``axes`` order; every axis needs an entry and no extra ones are allowed."""
    if not isinstance(bcs, Mapping):
        raise BoundaryError("boundary conditions must map axis name to condition",
                            expected="e.g. {'x': 'PERIODIC', 'y': ('WALL', 'WALL')}", received=type(bcs).__name__)
    missing = [a for a in axes if a not in bcs]
    if missing:
        raise BoundaryError("no boundary condition for axis", field=f"axis {missing[0]!r}",
                            expected=f"an entry for each of {list(axes)}", received=f"entries for {list(bcs)}")
    extra = [a for a in bcs if a not in axes]
    if extra:
        raise BoundaryError("boundary condition for an unknown axis", field=f"axis {extra[0]!r}",
                            expected=f"one of {list(axes)}", received=repr(extra[0]))
    return {a: parse_axis(bcs[a], axis=a) for a in axes}


def format_axis(codes: tuple[int, int]) -> str:
    """'LOW HIGH' names, as stored in dataset attributes."""
    return f"{BOUNDARY_NAMES[codes[0]]} {BOUNDARY_NAMES[codes[1]]}"
