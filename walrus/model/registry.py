"""`get_model`: one call from a preset name, a checkpoint path or the model hub to a network."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from walrus.model.checkpoint import load_any
from walrus.model.config import get_preset, list_models
from walrus.model.network import Walrus

HUB_REPO = "polymathic-ai/walrus"
HUB_FILENAME = "walrus.pt"


def get_model(name: str = "walrus-tiny", weights: str | os.PathLike | None = None, *,
              device: str | torch.device = "cpu", dtype: torch.dtype | None = None, meta: bool = False,
              **config_overrides) -> Walrus:
    """Build a preset (optionally with config overrides), or load weights.

    name: a preset from `list_models()`, or the path of a checkpoint (ours or the official file).
    weights: a checkpoint path to load into the preset, or "hub" to download the official file.
    meta: build on the meta device (no memory, for inspecting layouts and sizes).
    """
    if name not in list_models() and Path(name).exists():
        return load_any(name, device=device, dtype=dtype)
    preset = get_preset(name)
    config = preset.config.replace(**config_overrides) if config_overrides else preset.config
    if weights == "hub":
        weights = download_official()
    if weights is not None:  # an official-layout file loads into this preset; ours carries its own config
        return load_any(weights, config=config, device=device, dtype=dtype)
    if meta:
        with torch.device("meta"):
            return Walrus(config)
    model = Walrus(config)
    return model.to(device=device, dtype=dtype) if dtype else model.to(device)


def download_official(revision: str | None = None, cache_dir: str | None = None) -> Path:
    """Fetch the official `walrus.pt` from the Hugging Face hub (needs network and huggingface_hub)."""
    try:
        from huggingface_hub import hf_hub_download
    except ImportError as exc:
        raise ImportError("downloading the official weights needs `pip install huggingface_hub`; "
                          "or pass the path of a local walrus.pt") from exc
    return Path(hf_hub_download(HUB_REPO, HUB_FILENAME, revision=revision, cache_dir=cache_dir))
