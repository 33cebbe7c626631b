"""walrus: the Walrus foundation model for continuum dynamics, as a tool inside simulations."""

from walrus.model import (Walrus, WalrusConfig, get_model, get_preset, list_models, load_checkpoint,
                          load_official, save_checkpoint)

__version__ = "0.1.0"

__all__ = ["Walrus", "WalrusConfig", "get_model", "get_preset", "list_models", "load_checkpoint",
           "load_official", "save_checkpoint", "__version__"]
