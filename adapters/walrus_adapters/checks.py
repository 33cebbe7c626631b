"""Set-up checks shared by the adapters: each refusal is a `walrus.errors.ConfigError` naming the
argument, what it expects and what it received, raised before any solver or surrogate step."""

from __future__ import annotations

import math
import numbers
from typing import Any, Mapping

import numpy as np

from walrus.errors import ConfigError

__all__ = ["received", "real", "count", "mapping", "names", "callable_", "surrogate_like", "has_attributes"]


def received(value: Any) -> str:
    """A short description of a received value: its repr (cut) and type."""
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a broken __repr__ must not hide the real error
        text = object.__repr__(value)
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{text} ({type(value).__name__})"


def real(name: str, value: Any, *, low: float | None = None, high: float | None = None, low_open: bool = False,
         what: str = "") -> float:
    """A finite real number (not a bool) within [low, high] (``low_open``: above ``low``); returned as float."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
    if ok:
        try:
            v = float(value)
        except (OverflowError, TypeError, ValueError):
            ok = False
        else:
            ok = math.isfinite(v) and (low is None or (v > low if low_open else v >= low)) and (high is None or v <= high)
    if not ok:
        rng = ""
        if low is not None or high is not None:
            lo = "-inf" if low is None else f"{low:g}"
            hi = "inf" if high is None else f"{high:g}"
            rng = f" in {'(' if low_open or low is None else '['}{lo}, {hi}{')' if high is None else ']'}"
        raise ConfigError(field=name, expected=f"a finite number{rng}" + (f" ({what})" if what else ""),
                          received=received(value))
    return v


def count(name: str, value: Any, *, low: int = 0, high: int | None = None, what: str = "") -> int:
    """An integer (not a bool) within [low, high]."""
    ok = isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)) and value >= low \
        and (high is None or value <= high)
    if not ok:
        hi = "" if high is None else f", at most {high:,}"
        raise ConfigError(field=name, expected=f"an integer >= {low}{hi}" + (f" ({what})" if what else ""),
                          received=received(value))
    return int(value)


def mapping(name: str, value: Any, *, what: str, optional: bool = True) -> dict:
    """A Mapping (None is {} when ``optional``) with string keys; returned as a dict."""
    if value is None and optional:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(field=name, expected=f"a mapping {what}", received=received(value))
    for key in value:
        if not isinstance(key, str):
            raise ConfigError("keys must be names (strings)", field=name, expected=f"a mapping {what}",
                              received=f"key {received(key)}")
    return dict(value)


def names(name: str, value: Any, *, what: str = "field names") -> list[str]:
    """A non-empty list of distinct non-empty strings (one string counts as a list of one)."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not value:
        raise ConfigError(field=name, expected=f"a non-empty list of {what}", received=received(value))
    for item in value:
        if not isinstance(item, str) or not item:
            raise ConfigError(field=name, expected=f"a non-empty list of {what}", received=f"item {received(item)}")
    dup = next((n for n in value if list(value).count(n) > 1), None)
    if dup is not None:
        raise ConfigError("a name is listed twice", field=name, expected=f"distinct {what}", received=repr(dup))
    return list(value)


def callable_(name: str, value: Any, *, what: str) -> None:
    if not callable(value):
        raise ConfigError(field=name, expected=what, received=received(value))


def has_attributes(name: str, value: Any, attributes: tuple[str, ...], *, what: str) -> None:
    """Duck-typing check of a solver object: refuse it naming the first attribute it lacks."""
    for attr in attributes:
        head = attr.split(".")
        obj = value
        try:
            for part in head:
                obj = getattr(obj, part)
        except Exception:  # noqa: BLE001 - any failure to read it means it is not the expected object
            raise ConfigError(f"not {what} (it has no `{attr}`)", field=name, expected=what,
                              received=received(value)) from None


def surrogate_like(value: Any) -> None:
    """The surrogate a hybrid loop drives: a `walrus.Surrogate` (or an object with its step API)."""
    for attr in ("step", "observe", "history_for"):
        if not callable(getattr(value, attr, None)):
            raise ConfigError(f"not a surrogate (it has no `{attr}` method)", field="surrogate",
                              expected="a walrus.Surrogate (Surrogate.from_pretrained(...))", received=received(value))
