"""`get_model`: one call from a preset name, a checkpoint path or the model hub to a network."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from walrus.errors import ArgumentError, CheckpointError, ConfigError, UnknownModelError, WalrusError
from walrus.model.checkpoint import load_any
from walrus.model.config import get_preset, list_models
from walrus.model.hub import HUB_FILENAME, HUB_REPO, HUB_REVISION, hub_download, load_from_hub, looks_like_repo_id
from walrus.model.network import Walrus
from walrus.model.pretrained import load_shipped

__all__ = ["HUB_FILENAME", "HUB_REPO", "HUB_REVISION", "download_official", "get_model"]


def get_model(name: str = "walrus-tiny", weights: str | os.PathLike | None = None, *,
              device: str | torch.device = "cpu", dtype: torch.dtype | None = None, meta: bool = False,
              revision: str | None = None, filename: str | None = None, **config_overrides) -> Walrus:
    """Build a preset (optionally with config overrides), or load weights.

    name: a preset from `list_models()`, the path of a checkpoint (ours or the official file), or a
        hub repo id ("owner/name", e.g. "polymathic-ai/walrus"); an existing local path always wins.
    weights: a checkpoint path to load into the preset, "hub" to fetch the official file, or
        "pretrained" for the weights shipped inside the package (`walrus.model.pretrained.SHIPPED`).
    revision, filename: for hub loads only: the repo revision (default `walrus.model.hub.default_revision()`,
        a pinned commit, overridable with $WALRUS_HUB_REVISION) and the weights file (default walrus.pt).
    meta: build on the meta device (no memory, for inspecting layouts and sizes).
    """
    if isinstance(name, os.PathLike):
        name = os.fspath(name)
    if not isinstance(name, str) or not name.strip():
        raise UnknownModelError("model name must be a preset name or a checkpoint path", field="name",
                                expected=f"one of {list_models()} or the path of a checkpoint file",
                                received=repr(name)[:80])
    _check_device_dtype(device, dtype)
    repo_name = name not in list_models() and not Path(name).exists() and looks_like_repo_id(name)
    if not (repo_name or weights == "hub") and (revision is not None or filename is not None):
        raise ArgumentError("revision= and filename= apply to hub loads only", field="revision",
                            expected="a hub repo id as the name, or weights='hub'", received=repr(name)[:80])
    if name not in list_models():
        path = Path(name)
        if path.is_file():
            return load_any(name, device=device, dtype=dtype)
        if path.exists():
            raise CheckpointError(f"{name}: not a checkpoint file (a directory?)", field="name",
                                  expected="the path of a .safetensors or .pt file", received=str(path))
        if repo_name:
            if config_overrides or weights is not None or meta:
                raise ArgumentError("a hub repo carries its own config and weights", field="name",
                                    expected="no config overrides, weights= or meta= with a repo id",
                                    received=sorted([*config_overrides, *(["weights"] if weights is not None else []),
                                                     *(["meta"] if meta else [])]))
            return load_from_hub(name, filename=filename, revision=revision, device=device, dtype=dtype)
        if _looks_like_path(name):
            raise CheckpointError(f"{name}: no such checkpoint file", field="name",
                                  expected="an existing checkpoint file or a preset name "
                                           f"({', '.join(list_models())})", received=repr(name))
        raise UnknownModelError(f"unknown model preset {name!r}", field="name",
                                expected=f"a preset, one of {list_models()}, the path of a checkpoint file "
                                         "or a hub repo id 'owner/name'",
                                received=repr(name))
    preset = get_preset(name)
    if weights is not None and weights != "hub" and not isinstance(weights, (str, os.PathLike)):
        raise ArgumentError("weights must be a checkpoint path, 'hub' or 'pretrained'", field="weights",
                            expected="a path, 'hub' or 'pretrained'", received=repr(weights)[:80])
    if weights == "pretrained":
        if config_overrides or meta:
            raise ArgumentError("the shipped weights fix their config", field="weights",
                                expected="no config overrides or meta= with weights='pretrained'",
                                received=sorted([*config_overrides, *(["meta"] if meta else [])]))
        return load_shipped(name, device=device, dtype=dtype)  # refuses presets that ship no weights
    try:
        config = preset.config.replace(**config_overrides) if config_overrides else preset.config
    except WalrusError:
        raise
    except (TypeError, ValueError) as exc:  # dataclasses.replace on an unknown key, a bad value
        raise ConfigError(f"bad model config override ({exc})", field=", ".join(sorted(config_overrides)),
                          expected="WalrusConfig keys with valid values", received=config_overrides) from exc
    if weights == "hub":
        weights = download_official(revision=revision, filename=filename)
    if weights is not None:  # an official-layout file loads into this preset; ours carries its own config
        return load_any(weights, config=config, device=device, dtype=dtype)
    if meta:
        with torch.device("meta"):
            return Walrus(config)
    model = Walrus(config)
    return model.to(device=device, dtype=dtype) if dtype else model.to(device)


_CHECKPOINT_SUFFIXES = (".safetensors", ".pt", ".pth", ".ckpt", ".bin")


def _looks_like_path(name: str) -> bool:
    return (os.sep in name or "/" in name or name.startswith((".", "~"))
            or name.lower().endswith(_CHECKPOINT_SUFFIXES))


def _check_device_dtype(device, dtype) -> None:
    try:
        torch.device(device)
    except Exception as exc:
        raise ArgumentError("not a torch device", field="device", expected="e.g. 'cpu' or 'cuda:0'",
                            received=repr(device)[:80]) from exc
    if dtype is not None and (not isinstance(dtype, torch.dtype) or not dtype.is_floating_point):
        raise ArgumentError("not a floating-point torch dtype", field="dtype",
                            expected="torch.float32, torch.bfloat16, ...", received=repr(dtype)[:80])


def download_official(revision: str | None = None, filename: str | None = None) -> Path:
    """The official weights file from the hub cache (fetched if missing): `HUB_FILENAME` of `HUB_REPO`
    at the pinned revision unless told otherwise. Honours HF_HOME and HF_HUB_OFFLINE."""
    return hub_download(HUB_REPO, filename or HUB_FILENAME, revision)
