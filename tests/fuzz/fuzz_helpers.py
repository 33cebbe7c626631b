"""Shared helpers of the hypothesis fuzz suite (tests/fuzz/).

Test modules import them as ``from fuzz_helpers import assert_contract, examples, Outcome``
(tests/fuzz has no ``__init__.py``, so pytest puts this folder on ``sys.path``).

The contract every public entry point keeps, whatever it is given:

* it returns a correct result (the caller checks finiteness, shapes, kind; ``assert_contract``
  checks that tensors / arrays / States in the result are finite), or
* it raises a :class:`walrus.errors.WalrusError` whose message is not empty,

and never another exception type, a hang (caught by the per-example ``deadline`` of the active
hypothesis profile, see conftest.py) or a non-finite result returned silently.

Profiles (registered in conftest.py):

* ``ci`` (default): bounded, ``derandomize=True``, ``database=None``; the whole of tests/fuzz runs
  about 1,000 examples in under 3 minutes on 2 cores.
* ``slow``: at least 10,000 examples across the suite. Select it with
  ``WALRUS_FUZZ_PROFILE=slow python -m pytest tests/fuzz -m "slow or not slow"``
  (or ``--hypothesis-profile=slow``).

Use :func:`examples` for every test's ``max_examples`` so the numbers follow the profile::

    @settings(max_examples=examples(ci=40))
    @given(...)
    def test_x(...): ...
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any, Callable

__all__ = [
    "PROFILE_ENV", "SLOW_FACTOR", "CI_DEADLINE_MS", "SLOW_DEADLINE_MS", "active_profile", "examples",
    "Outcome", "assert_contract", "assert_finite", "ContractViolation",
]

#: environment variable that selects the profile ("ci" or "slow")
PROFILE_ENV = "WALRUS_FUZZ_PROFILE"
#: the slow profile runs this many times the ci examples of every test (at least)
SLOW_FACTOR = 25
#: per-example deadlines: an example slower than this counts as a hang
CI_DEADLINE_MS = 20_000
SLOW_DEADLINE_MS = 60_000


def active_profile() -> str:
    """The fuzz profile in force: the loaded hypothesis profile if it is one of ours, else the env var."""
    try:
        from hypothesis import settings

        getter = getattr(settings, "get_current_profile_name", None)
        name = getter() if getter else getattr(settings, "_current_profile", None)
        if name in ("ci", "slow"):
            return name
    except Exception:  # pragma: no cover - very old/new hypothesis
        pass
    return os.environ.get(PROFILE_ENV, "ci").strip().lower() or "ci"


def examples(ci: int, slow: int | None = None) -> int:
    """``max_examples`` for the active profile: ``ci`` in the ci profile, ``slow`` (default
    ``SLOW_FACTOR * ci``) in the slow one."""
    if active_profile() == "slow":
        return int(slow if slow is not None else SLOW_FACTOR * ci)
    return int(ci)


class ContractViolation(AssertionError):
    """The call broke the contract (foreign exception type, empty message, non-finite result)."""


@dataclass
class Outcome:
    """What ``assert_contract`` saw: ``ok`` with ``value``, or ``refused`` with ``error``."""

    ok: bool
    value: Any = None
    error: Exception | None = None

    @property
    def refused(self) -> bool:
        return not self.ok


def _is_finite_value(value: Any, path: str, seen: set[int]) -> str | None:
    """Return a description of the first non-finite number found in ``value`` (None if all finite)."""
    if id(value) in seen:
        return None
    seen.add(id(value))
    try:
        import torch
    except Exception:  # pragma: no cover
        torch = None
    import numpy as np

    if torch is not None and isinstance(value, torch.Tensor):
        if value.is_floating_point() or value.is_complex():
            if value.numel() and not bool(torch.isfinite(value).all()):
                return f"{path}: tensor with non-finite values"
        return None
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "fc" and value.size and not bool(np.isfinite(value).all()):
            return f"{path}: array with non-finite values"
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{path}: non-finite float {value}"
    if isinstance(value, dict):
        for k, v in value.items():
            bad = _is_finite_value(v, f"{path}[{k!r}]", seen)
            if bad:
                return bad
        return None
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            bad = _is_finite_value(v, f"{path}[{i}]", seen)
            if bad:
                return bad
        return None
    # a walrus State (duck-typed so this module does not need walrus imported to load)
    fields = getattr(value, "fields", None)
    if isinstance(fields, dict) and hasattr(value, "grid"):
        for k, v in fields.items():
            arr = getattr(v, "magnitude", v)
            bad = _is_finite_value(np.asarray(arr) if not _is_tensor(arr) else arr, f"{path}.fields[{k!r}]", seen)
            if bad:
                return bad
    return None


def _is_tensor(x: Any) -> bool:
    try:
        import torch

        return isinstance(x, torch.Tensor)
    except Exception:  # pragma: no cover
        return False


def assert_finite(value: Any, what: str = "result") -> None:
    """Fail if ``value`` (a tensor, array, float, State, or a list/tuple/dict of those) holds NaN/inf."""
    bad = _is_finite_value(value, what, set())
    if bad:
        raise ContractViolation(f"non-finite result returned silently: {bad}")


def assert_contract(fn: Callable[[], Any], *, check: Callable[[Any], None] | None = None,
                    finite: bool = True, expect: str | None = None) -> Outcome:
    """Run ``fn()`` and classify the outcome under the error contract.

    * ``WalrusError`` with a non-empty message -> ``Outcome(ok=False, error=e)``;
    * any other exception -> :class:`ContractViolation` (chained to the original);
    * a result -> checked finite (unless ``finite=False``), then ``check(result)`` if given
      (put shape/kind/reference assertions there) -> ``Outcome(ok=True, value=result)``.

    ``expect="ok"`` additionally fails if the call was refused, ``expect="error"`` if it succeeded
    (use them when the strategy knows whether the input is valid).
    Hangs are caught by the hypothesis ``deadline`` of the profile, not here.
    """
    from walrus.errors import WalrusError

    try:
        result = fn()
    except WalrusError as e:
        if not str(e).strip():
            raise ContractViolation(f"{type(e).__name__} raised with an empty message") from e
        if expect == "ok":
            raise ContractViolation(f"valid input refused: {type(e).__name__}: {e}") from e
        return Outcome(ok=False, error=e)
    except (KeyboardInterrupt, SystemExit, ContractViolation):
        raise
    except AssertionError as e:
        # an assertion inside walrus is as much a contract break as any raw exception
        raise ContractViolation(f"raw AssertionError (not a WalrusError): {e!r}") from e
    except Exception as e:  # noqa: BLE001 - classifying is the point
        raise ContractViolation(f"raw {type(e).__module__}.{type(e).__name__} (not a WalrusError): {e}") from e
    if expect == "error":
        raise ContractViolation(f"invalid input accepted, returned {type(result).__name__}")
    if finite:
        assert_finite(result)
    if check is not None:
        check(result)
    return Outcome(ok=True, value=result)


# ---------------------------------------------------------------- corrupt-file transformations

def flip_bytes(path, data, max_flips: int = 8) -> None:
    """XOR 1..max_flips bytes of the file at hypothesis-drawn offsets (``data`` is ``st.data()``)."""
    from hypothesis import strategies as st

    raw = bytearray(path.read_bytes())
    for _ in range(data.draw(st.integers(1, max_flips), label="flips")):
        i = data.draw(st.integers(0, len(raw) - 1), label="offset")
        raw[i] ^= data.draw(st.integers(1, 255), label="xor")
    path.write_bytes(bytes(raw))


def truncate_file(path, fraction: float) -> None:
    """Keep the first ``fraction`` of the file's bytes."""
    raw = path.read_bytes()
    path.write_bytes(raw[: int(len(raw) * fraction)])
