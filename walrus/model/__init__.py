"""The released Walrus network, its presets and its checkpoints."""

from walrus.model.checkpoint import (CheckpointError, extend_vocabulary, load_checkpoint, load_official,
                                     official_state_dict, save_checkpoint)
from walrus.model.config import WalrusConfig, get_preset, list_models
from walrus.model.network import Walrus, WalrusInputError
from walrus.model.normalization import RMSStats, predict_next, rms_stats
from walrus.model.patching import OPEN, PERIODIC, WALL, UnsupportedGridError
from walrus.model.random_draws import Draws
from walrus.model.registry import get_model
from walrus.model.vocabulary import RELEASE_FIELD_NAMES

__all__ = [
    "CheckpointError", "Draws", "OPEN", "PERIODIC", "RELEASE_FIELD_NAMES", "RMSStats", "UnsupportedGridError",
    "WALL", "Walrus", "WalrusConfig", "WalrusInputError", "extend_vocabulary", "get_model", "get_preset",
    "list_models", "load_checkpoint", "load_official", "official_state_dict", "predict_next", "rms_stats",
    "save_checkpoint",
]
