"""DriftGuard: decide whether a surrogate frame may replace a solver step.

A learned step can go wrong in ways a solver never does: NaN/inf, a total that physics keeps
fixed (water volume, mass, energy) drifting, or values leaving their physical range (negative
depth). The guard checks a proposed frame against the last accepted one and returns the reason
it is rejected, or None; the hybrid loop then runs the solver for that step instead.

Frames are ``{field: array}`` in the solver's own units and walrus layout (``(*spatial[, D])``),
so bounds are written in the units the solver uses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional

import numpy as np

from walrus.errors import ConfigError, FieldError
from walrus_adapters import checks

__all__ = ["DriftGuard"]

Frame = Mapping[str, np.ndarray]


@dataclass(frozen=True)
class DriftGuard:
    """Checks on a proposed frame; every check is optional.

    conserved   {scalar field: rtol}: the field's total (sum over cells) may change by at most
                rtol relative to the reference frame.
    invariants  {label: (fn(frame) -> float, rtol)}: the same for any functional, e.g. energy.
    bounds      {field: (low, high)}: every value within [low, high]; None leaves a side open.
    reference   "previous" (the last accepted frame: catches one bad step) or "initial" (the first
                frame: also catches slow drift over many steps).
    atol        absolute slack added to every conservation tolerance (totals near zero).
    """

    conserved: Mapping[str, float] = field(default_factory=dict)
    invariants: Mapping[str, tuple[Callable[[Frame], float], float]] = field(default_factory=dict)
    bounds: Mapping[str, tuple[Optional[float], Optional[float]]] = field(default_factory=dict)
    reference: str = "previous"
    atol: float = 1e-12

    def __post_init__(self):
        if not isinstance(self.reference, str) or self.reference not in ("previous", "initial"):
            raise ConfigError(field="DriftGuard.reference", expected="'previous' or 'initial'",
                              received=checks.received(self.reference))
        checks.real("DriftGuard.atol", self.atol, low=0.0, what="absolute slack of every conservation check")
        conserved = checks.mapping("DriftGuard.conserved", self.conserved, what="{scalar field: rtol}")
        invariants = checks.mapping("DriftGuard.invariants", self.invariants, what="{label: (fn(frame) -> float, rtol)}")
        bounds = checks.mapping("DriftGuard.bounds", self.bounds, what="{field: (low, high)}")
        for name, value in (("conserved", conserved), ("invariants", invariants), ("bounds", bounds)):
            object.__setattr__(self, name, value)  # None means no checks of that kind
        for name, rtol in conserved.items():
            checks.real(f"DriftGuard.conserved[{name!r}]", rtol, low=0.0, what="relative tolerance of the total")
        for label, spec in invariants.items():
            key = f"DriftGuard.invariants[{label!r}]"
            if not (isinstance(spec, (tuple, list)) and len(spec) == 2 and callable(spec[0])):
                raise ConfigError(field=key, expected="(function(frame) -> float, rtol)", received=checks.received(spec))
            checks.real(f"{key} rtol", spec[1], low=0.0, what="relative tolerance of the invariant")
        for name, pair in bounds.items():
            key = f"DriftGuard.bounds[{name!r}]"
            if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
                raise ConfigError(field=key, expected="(low, high) with None for an open side",
                                  received=checks.received(pair))
            lo, hi = pair
            if lo is not None:
                if not (isinstance(lo, (int, float, np.integer, np.floating)) and not isinstance(lo, bool)
                        and not math.isnan(lo) and lo != math.inf):
                    raise ConfigError(field=f"{key} low", expected="None or a number below +inf (not NaN)",
                                      received=checks.received(lo))
            if hi is not None:
                if not (isinstance(hi, (int, float, np.integer, np.floating)) and not isinstance(hi, bool)
                        and not math.isnan(hi) and hi != -math.inf):
                    raise ConfigError(field=f"{key} high", expected="None or a number above -inf (not NaN)",
                                      received=checks.received(hi))
            if lo is not None and hi is not None and lo > hi:
                raise ConfigError("low is above high", field=key, expected="low <= high", received=f"({lo}, {hi})")

    def validate(self, ranks: Mapping[str, int]) -> None:
        """Fail at set-up, not mid-run, when a check names a field the solver does not hand over."""
        for kind, names in (("conserved", self.conserved), ("bounds", self.bounds)):
            for name in names:
                if name not in ranks:
                    raise FieldError(f"DriftGuard {kind} names a field the solver does not provide", field=name or repr(name),
                                     expected=f"one of {sorted(ranks)}", received=repr(name))
        for name in self.conserved:
            if ranks[name] != 0:
                raise FieldError("conservation is checked on totals of scalar fields", field=name,
                                 expected="a rank-0 field (e.g. height, density, energy)",
                                 received=f"a rank-{ranks[name]} field",
                                 hint="use invariants={label: (fn, rtol)} for other quantities")

    def check(self, proposed: Frame, reference: Frame) -> Optional[str]:
        """The reason ``proposed`` is rejected, or None if it passes every check."""
        for name, a in proposed.items():
            a = np.asarray(a)
            bad = ~np.isfinite(a)
            if bad.any():
                n_nan = int(np.isnan(a).sum())
                return f"non-finite values in '{name}' ({n_nan} NaN, {int(bad.sum()) - n_nan} inf of {a.size})"
        for name, (lo, hi) in self.bounds.items():
            a = np.asarray(proposed[name])
            if lo is not None and a.min() < lo:
                return f"'{name}' below its lower bound {lo:g} (min {a.min():.6g})"
            if hi is not None and a.max() > hi:
                return f"'{name}' above its upper bound {hi:g} (max {a.max():.6g})"
        totals = [(f"total {name}", lambda f, n=name: float(np.sum(f[n])), rtol) for name, rtol in self.conserved.items()]
        totals += [(label, fn, rtol) for label, (fn, rtol) in self.invariants.items()]
        for label, fn, rtol in totals:
            new, ref = _number(label, fn(proposed)), _number(label, fn(reference))
            if not math.isfinite(ref):
                return f"{label} is not finite on the {self.reference} frame ({ref}): nothing to compare with"
            if not math.isfinite(new) or abs(new - ref) > rtol * abs(ref) + self.atol:
                rel = abs(new - ref) / abs(ref) if ref else float("inf")
                return (f"{label} changed by {rel:.3g} relative ({ref:.6g} -> {new:.6g}), "
                        f"tolerance {rtol:g} vs the {self.reference} frame")
        return None


def _number(label: str, value) -> float:
    """An invariant's value as a float; a function that returns something else is a set-up error."""
    try:
        return float(np.asarray(value, dtype=np.float64).item())
    except (TypeError, ValueError, OverflowError):
        raise ConfigError("an invariant must return one number", field=f"DriftGuard.invariants[{label!r}]",
                          expected="fn(frame) -> float", received=checks.received(value)) from None
