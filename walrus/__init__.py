"""walrus: the Walrus foundation model for continuum dynamics, as a tool inside simulations.

``import walrus`` is light: it registers the ``ds.walrus`` xarray accessor (:mod:`walrus.io`,
torch-free) and the plugin marker ``walrus.hookimpl``; the model, ``State`` and ``Surrogate``
(which need torch) are imported on first use of the attribute (PEP 562), so a data tool or
a plugin that only reads files never pays for torch.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING

from walrus import io  # noqa: F401  (registers the ``ds.walrus`` xarray accessor)
from walrus.hooks import hookimpl

__version__ = "0.1.0"

# attribute -> module that defines it; imported on first access
_LAZY = {
    "State": "walrus.state",
    "Surrogate": "walrus.surrogate",
    **{name: "walrus.model" for name in ("Walrus", "WalrusConfig", "get_model", "get_preset", "list_models",
                                         "load_checkpoint", "load_official", "save_checkpoint")},
}

__all__ = ["State", "Surrogate", "Walrus", "WalrusConfig", "get_model", "get_preset", "hookimpl", "list_models",
           "load_checkpoint", "load_official", "save_checkpoint", "__version__"]

if TYPE_CHECKING:  # pragma: no cover  (for type checkers and IDEs; never run)
    from walrus.model import (Walrus, WalrusConfig, get_model, get_preset, list_models, load_checkpoint,
                              load_official, save_checkpoint)
    from walrus.state import State
    from walrus.surrogate import Surrogate


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
    elif not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        value = importlib.import_module(f"{__name__}.{name}")  # ``walrus.model`` etc. without an explicit import
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
