"""walrus's own exceptions.

Every error a user can trigger with bad data names *what* is wrong (the field or file),
what walrus expected and what it received, so the fix is obvious from the message alone.
They also subclass ``ValueError`` so generic callers that catch bad-value errors keep working.
"""

from __future__ import annotations

from typing import Any

__all__ = ["WalrusError", "FieldError", "UnitError", "BoundaryError", "ShapeError", "WellFormatError", "ConfigError",
           "ArgumentError", "InputKindError", "UnknownModelError", "CheckpointError", "UnsupportedGridError",
           "WalrusInputError", "ModelStateError", "PredictionError"]


class WalrusError(ValueError):
    """Base class of every error walrus raises about user data.

    Build it with keywords so the message always has the same three parts::

        raise ShapeError(field="velocity", expected="(T, 16, 16, 2)", received="(T, 16, 16)")
    """

    def __init__(self, message: str | None = None, *, field: str | None = None, expected: Any = None,
                 received: Any = None, hint: str | None = None):
        self.field, self.expected, self.received = field, expected, received
        head = f"{field}: " if field is not None else ""
        body = [message] if message else []
        if expected is not None:
            body.append(f"expected {expected}")
        if received is not None:
            body.append(f"received {received}")
        details = ", ".join(body[1:] if message else body)
        text = head + "; ".join(x for x in ((message or ""), details) if x)
        if hint:
            text += f" ({hint})"
        super().__init__(text)


class FieldError(WalrusError):
    """A field is missing, unknown, of the wrong tensor rank, or redefined inconsistently."""


class UnitError(WalrusError):
    """Units are missing, unparsable, or of the wrong physical dimension."""


class BoundaryError(WalrusError):
    """A boundary condition is unknown, missing or inconsistent (e.g. periodic on one side only)."""


class ShapeError(WalrusError):
    """An array has the wrong shape, dtype, or non-finite values."""


class WellFormatError(WalrusError):
    """A file is not a valid Well HDF5 file (truncated, foreign, or breaking the schema)."""


class ConfigError(WalrusError):
    """A configuration value is wrong: a command-line argument, a key of a YAML config file, or a
    setting of a solver adapter (unknown key, wrong type, out of range, missing or unreadable file).

    ``message`` keeps the first part of the text, so callers can re-raise it with more context
    (e.g. the config file it came from) without repeating the field.
    """

    def __init__(self, message: str | None = None, *, field: str | None = None, expected: Any = None,
                 received: Any = None, hint: str | None = None):
        self.message, self.hint = message, hint
        super().__init__(message, field=field, expected=expected, received=received, hint=hint)


class ArgumentError(WalrusError):
    """A function argument (a count, a mode, an option) is out of range or of the wrong kind."""


class InputKindError(ArgumentError, TypeError):
    """An argument is of a kind walrus does not accept (e.g. ``Surrogate.step(3)``); also a TypeError."""


class UnknownModelError(WalrusError, KeyError):
    """A model name that is neither a registered preset nor an existing file; also a KeyError."""

    __str__ = BaseException.__str__  # KeyError would print the message as a quoted repr


class CheckpointError(WalrusError, RuntimeError):
    """A checkpoint file that cannot be used; the message names the file and the reason.

    Also a RuntimeError, which it was before it joined the WalrusError family. Defined here, re-exported
    by :mod:`walrus.model.checkpoint` and :mod:`walrus.model`.
    """


class UnsupportedGridError(ShapeError):
    """A grid size the release's stride table does not cover (raised in release-strict mode)."""


class WalrusInputError(WalrusError):
    """Bad input to the network; the message names the argument, what was expected and what came."""


class ModelStateError(WalrusError, RuntimeError):
    """A model in the wrong state for the call (e.g. streaming a model in training mode); also a RuntimeError."""


class PredictionError(WalrusError):
    """The model produced non-finite values (NaN weights, inputs beyond float32's range, ...)."""
