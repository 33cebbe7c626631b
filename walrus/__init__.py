"""walrus: the Walrus foundation model for continuum dynamics, as a tool inside simulations."""

from walrus import io  # noqa: F401  (registers the ``ds.walrus`` xarray accessor)
from walrus.hooks import hookimpl
from walrus.model import (Walrus, WalrusConfig, get_model, get_preset, list_models, load_checkpoint,
                          load_official, save_checkpoint)
from walrus.state import State
from walrus.surrogate import Surrogate

__version__ = "0.1.0"

__all__ = ["State", "Surrogate", "Walrus", "WalrusConfig", "get_model", "get_preset", "hookimpl", "list_models",
           "load_checkpoint", "load_official", "save_checkpoint", "__version__"]
