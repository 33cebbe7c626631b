"""Saving and loading weights: our self-describing safetensors files, the official `walrus.pt`,
and growing the field vocabulary of a loaded model."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Iterable, Literal

import torch

from walrus.atomic import atomic_path
from walrus.model.config import CONFIG_FORMAT_VERSION, WalrusConfig, get_preset
from walrus.model.network import Walrus

FORMAT_KEY = "walrus_format_version"
_STRIP_PREFIXES = ("module.", "_orig_mod.")


from walrus.errors import CheckpointError  # noqa: E402  (defined with walrus's other errors; re-exported here)


def save_checkpoint(model: Walrus, path: str | os.PathLike, preset: str | None = None,
                    metadata: dict | None = None) -> Path:
    """Write the weights and everything needed to rebuild the model as one safetensors file.

    The file is written beside its destination and renamed into place, so an interrupted save
    never leaves a partial checkpoint under the final name.
    """
    from safetensors.torch import save_file

    path = Path(path)
    meta = {
        FORMAT_KEY: str(CONFIG_FORMAT_VERSION),
        "config": json.dumps(model.config.to_dict()),
        "preset": preset or "",
        "field_names": json.dumps(list(model.config.field_names)),
        "history_2d": str(model.config.history_2d),
        "history_3d": str(model.config.history_3d),
    }
    for key, value in (metadata or {}).items():
        meta[f"user.{key}"] = value if isinstance(value, str) else json.dumps(value)
    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    return path


def read_metadata(path: str | os.PathLike) -> dict:
    """The metadata of a walrus safetensors checkpoint, without loading its tensors."""
    from safetensors import safe_open

    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as exc:  # safetensors raises several kinds on truncated/foreign files
        raise CheckpointError(f"{path}: not a readable safetensors checkpoint ({exc})") from exc
    if FORMAT_KEY not in meta:
        raise CheckpointError(f"{path}: safetensors file without walrus metadata (no {FORMAT_KEY!r} key)")
    if int(meta[FORMAT_KEY]) > CONFIG_FORMAT_VERSION:
        raise CheckpointError(f"{path}: format version {meta[FORMAT_KEY]} is newer than this walrus "
                              f"understands ({CONFIG_FORMAT_VERSION}); upgrade walrus")
    return meta


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu",
                    dtype: torch.dtype | None = None) -> Walrus:
    """Rebuild a model saved by `save_checkpoint`, from the file alone."""
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    meta = read_metadata(path)
    config = WalrusConfig.from_dict(json.loads(meta["config"]))
    try:
        state = load_file(str(path))
    except Exception as exc:
        raise CheckpointError(f"{path}: tensors could not be read ({exc})") from exc
    model = _build_and_load(config, state, path)
    return model.to(device=device, dtype=dtype) if dtype else model.to(device)


def _build_and_load(config: WalrusConfig, state: dict[str, torch.Tensor], source) -> Walrus:
    with torch.device("meta"):
        model = Walrus(config)
    try:
        model.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{source}: weights do not match the {config.n_blocks}-block, "
                              f"{config.hidden_dim}-wide layout: {exc}") from exc
    return model


def official_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The model weights of an official release file (`torch.load(...)["app"]["model"]`)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        raw = torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:
        raise CheckpointError(f"{path}: not a readable torch checkpoint ({exc})") from exc
    state = raw["app"]["model"] if isinstance(raw, dict) and "app" in raw else raw
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: no model state dict found (expected ['app']['model'])")
    clean = {}
    for key, value in state.items():
        for prefix in _STRIP_PREFIXES:
            key = key.removeprefix(prefix)
        clean[key] = value
    return clean


def load_official(path: str | os.PathLike, preset: str = "walrus-1.3b", config: WalrusConfig | None = None,
                  device: str | torch.device = "cpu", dtype: torch.dtype | None = None) -> Walrus:
    """Load the released `walrus.pt` (or a file in its layout) strictly into the named preset."""
    config = config or get_preset(preset).config
    state = official_state_dict(path)
    # Some converters drop the RoPE frequency buffers; they are a pure function of the config.
    for i in range(config.n_blocks):
        key = f"blocks.{i}.space_mixing.rotary_emb.freqs"
        if key not in state:
            state[key] = torch.linspace(1.0, config.rope_max_freq, config.head_dim // 8) * math.pi
    model = _build_and_load(config, state, path)
    return model.to(device=device, dtype=dtype) if dtype else model.to(device)


def load_any(path: str | os.PathLike, config: WalrusConfig | None = None, device: str | torch.device = "cpu",
             dtype: torch.dtype | None = None) -> Walrus:
    """One call for every weights file: a walrus safetensors checkpoint (rebuilt from its own
    metadata), or the official layout as a torch file (`walrus.pt`) or as a plain safetensors file
    (loaded strictly into `config`, the release's by default). Told apart by content."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    with open(path, "rb") as f:
        head = f.read(2)
    if head == b"PK" or head[:1] == b"\x80":  # zip-based or legacy torch pickle
        return load_official(path, config=config, device=device, dtype=dtype)
    try:
        with safe_open(str(path), framework="pt") as f:
            ours = FORMAT_KEY in (f.metadata() or {})
    except Exception as exc:
        raise CheckpointError(f"{path}: neither a torch checkpoint nor a readable safetensors file ({exc})") from exc
    if ours:
        return load_checkpoint(path, device, dtype)
    model = _build_and_load(config or get_preset("walrus-1.3b").config, load_file(str(path)), path)
    return model.to(device=device, dtype=dtype) if dtype else model.to(device)


def extend_vocabulary(model: Walrus, new_fields: Iterable[str], init_from: dict[str, str] | None = None,
                      scaling: Literal["exact", "release"] = "exact") -> Walrus:
    """A copy of `model` whose vocabulary has `new_fields` appended.

    A new field starts from the columns of the field named in `init_from` (e.g. a new
    ``salinity`` from ``concentration``), otherwise from zeros in the encoder and from the
    decoder's fresh init. The encoder rescales its columns by sqrt((n_states - 3) / C), so growing
    the vocabulary changes that factor: `scaling="exact"` multiplies the old columns by
    sqrt((n_old - 3) / (n_new - 3)) so that every existing field gives exactly the same output as
    before; `scaling="release"` uses the release's factor sqrt(n_old / n_new).
    """
    init_from = init_from or {}
    old_names = list(model.config.field_names)
    added = [name for name in new_fields if name not in old_names]
    if not added:
        return model
    for name, source in init_from.items():
        if source not in old_names:
            raise KeyError(f"init_from[{name!r}] = {source!r} is not in the model's vocabulary")
    names = old_names + added
    n_old, n_new = len(old_names), len(names)
    factor = math.sqrt((n_old - 3) / (n_new - 3)) if scaling == "exact" else math.sqrt(n_old / n_new)
    new_model = Walrus(model.config.replace(field_names=tuple(names))).to(
        device=model.encoder_dummy.device, dtype=model.encoder_dummy.dtype)
    new_model.deterministic, new_model.release_strides = model.deterministic, model.release_strides
    state = model.state_dict()
    fresh = new_model.state_dict()
    index = {name: i for i, name in enumerate(old_names)}
    for key, value in fresh.items():
        if key.endswith(".proj1.weight") and key.startswith("embed."):
            w = torch.zeros_like(value)
            w[:, :n_old] = state[key]
            for j, name in enumerate(added, start=n_old):
                if name in init_from:
                    w[:, j] = state[key][:, index[init_from[name]]]
            w[:, 2:] *= factor  # the columns the encoder rescales: all but the wall and open flags (ids 0, 1)
            state[key] = w
        elif key.startswith("debed.") and (key.endswith(".proj2.weight") or key.endswith(".proj2.bias")):
            w = value.clone()
            dim = 1 if key.endswith("weight") else 0
            w.narrow(dim, 0, n_old).copy_(state[key])
            for j, name in enumerate(added, start=n_old):
                if name in init_from:
                    w.select(dim, j).copy_(state[key].select(dim, index[init_from[name]]))
            state[key] = w
    new_model.load_state_dict(state, strict=True)
    return new_model
