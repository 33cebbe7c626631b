"""Saving and loading weights: our self-describing safetensors files, the official `walrus.pt`,
and growing the field vocabulary of a loaded model."""

from __future__ import annotations

import hashlib
import json
import math
import os
import pickle
import zipfile
from pathlib import Path
from typing import Iterable, Literal

import torch

from walrus.atomic import atomic_path
from walrus.errors import WalrusError
from walrus.model.config import CONFIG_FORMAT_VERSION, WalrusConfig, get_preset
from walrus.model.network import Walrus

FORMAT_KEY = "walrus_format_version"
#: metadata key of the sha256 over the checkpoint's content (tensors and the other metadata)
CHECKSUM_KEY = "sha256"
_STRIP_PREFIXES = ("module.", "_orig_mod.")
_FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


from walrus.errors import CheckpointError  # noqa: E402  (defined with walrus's other errors; re-exported here)


def content_sha256(tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> str:
    """sha256 over a checkpoint's content: every tensor (name, dtype, shape, bytes, in name order) and
    every metadata entry but the checksum itself. Independent of the file's byte layout."""
    h = hashlib.sha256()
    for key in sorted(metadata or {}):
        if key != CHECKSUM_KEY:
            h.update(json.dumps(["meta", key, metadata[key]]).encode())
    for key in sorted(tensors):
        t = tensors[key]
        h.update(json.dumps(["tensor", key, str(t.dtype), list(t.shape)]).encode())
        flat = t.detach().cpu().contiguous().reshape(-1)
        if flat.numel():
            h.update(memoryview(flat.view(torch.uint8).numpy()))
    return h.hexdigest()


def save_checkpoint(model: Walrus, path: str | os.PathLike, preset: str | None = None,
                    metadata: dict | None = None, checksum: bool = True) -> Path:
    """Write the weights and everything needed to rebuild the model as one safetensors file.

    The file is written beside its destination and renamed into place, so an interrupted save
    never leaves a partial checkpoint under the final name. With ``checksum`` (the default) the
    metadata holds a sha256 of the content (:func:`content_sha256`), which loading verifies.
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
    if checksum:
        meta[CHECKSUM_KEY] = content_sha256(tensors, meta)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    return path


def _reason(exc: BaseException) -> str:
    """A short description of a reader's exception (first line, bounded; no advice to unpickle)."""
    text = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
    if "weights_only" in text or isinstance(exc, pickle.UnpicklingError):
        return ("it holds objects other than tensors and plain containers, which a weights-only load "
                "refuses, or it is corrupt")
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def read_metadata(path: str | os.PathLike) -> dict:
    """The metadata of a walrus safetensors checkpoint, without loading its tensors."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as exc:  # safetensors raises several kinds on truncated/foreign files
        raise CheckpointError(f"{path}: not a readable safetensors checkpoint ({_reason(exc)})") from exc
    if FORMAT_KEY not in meta:
        raise CheckpointError(f"{path}: safetensors file without walrus metadata (no {FORMAT_KEY!r} key)")
    try:
        version = int(meta[FORMAT_KEY])
    except ValueError:
        raise CheckpointError(f"{path}: metadata {FORMAT_KEY!r} is not an integer "
                              f"({meta[FORMAT_KEY][:40]!r})") from None
    if version < 1:
        raise CheckpointError(f"{path}: metadata {FORMAT_KEY!r} = {version} is not a walrus format version")
    if version > CONFIG_FORMAT_VERSION:
        raise CheckpointError(f"{path}: format version {meta[FORMAT_KEY]} is newer than this walrus "
                              f"understands ({CONFIG_FORMAT_VERSION}); upgrade walrus")
    return meta


def config_from_metadata(meta: dict, source) -> WalrusConfig:
    """The WalrusConfig a checkpoint's metadata describes, every value checked against its bounds
    (before anything is built); CheckpointError naming the missing or bad key."""
    if "config" not in meta:
        raise CheckpointError(f"{source}: metadata has no 'config' key (the model cannot be rebuilt)")
    try:
        raw = json.loads(meta["config"])
    except (json.JSONDecodeError, RecursionError) as exc:
        raise CheckpointError(f"{source}: metadata 'config' is not valid JSON ({exc})") from exc
    try:
        config = WalrusConfig.from_dict(raw)
    except WalrusError as exc:
        raise CheckpointError(f"{source}: metadata 'config' is invalid: {exc}") from exc
    except (TypeError, ValueError, OverflowError) as exc:  # defensive: a type the bounds missed
        raise CheckpointError(f"{source}: metadata 'config' is invalid ({type(exc).__name__}: {exc})") from exc
    checks = {"field_names": lambda v: json.loads(v) == list(config.field_names),
              "history_2d": lambda v: v == str(config.history_2d),
              "history_3d": lambda v: v == str(config.history_3d)}
    for key, agrees in checks.items():
        if key in meta:
            try:
                ok = agrees(meta[key])
            except (json.JSONDecodeError, RecursionError):
                ok = False
            if not ok:
                raise CheckpointError(f"{source}: metadata {key!r} disagrees with 'config' (the file is corrupt)")
    return config


def _safetensors_state(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except Exception as exc:  # truncated, byte-flipped header, unknown dtype, ...
        raise CheckpointError(f"{path}: tensors could not be read ({_reason(exc)})") from exc


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu",
                    dtype: torch.dtype | None = None) -> Walrus:
    """Rebuild a model saved by `save_checkpoint`, from the file alone.

    The metadata (config bounds, format version) is checked before any tensor is read; the content
    checksum, when the file has one, before any weight is used.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    meta = read_metadata(path)
    config = config_from_metadata(meta, path)
    state = _safetensors_state(path)
    if CHECKSUM_KEY in meta and content_sha256(state, meta) != meta[CHECKSUM_KEY]:
        raise CheckpointError(f"{path}: checkpoint content does not match its sha256: the file is corrupt")
    model = _build_and_load(config, state, path)
    return model.to(device=device, dtype=dtype) if dtype else model.to(device)


def _checked_state(state: dict, source) -> dict[str, torch.Tensor]:
    """Refuse non-float (int, bool, complex) and non-finite tensors, naming them; bring float tensors
    of a minority dtype to the dtype most of the weights have (so the forward runs in one dtype)."""
    counts: dict[torch.dtype, int] = {}
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(f"{source}: entry {key!r} is a {type(value).__name__}, not a tensor")
        if value.dtype not in _FLOAT_DTYPES:
            raise CheckpointError(f"{source}: tensor {key!r} has dtype {value.dtype}; weights must be "
                                  f"floating point ({', '.join(str(d) for d in _FLOAT_DTYPES)})")
        if value.device.type != "meta" and not bool(torch.isfinite(value).all()):
            raise CheckpointError(f"{source}: tensor {key!r} holds non-finite values (NaN or inf)")
        counts[value.dtype] = counts.get(value.dtype, 0) + value.numel()
    if len(counts) > 1:
        common = max(counts, key=counts.get)
        state = {k: v.to(common) for k, v in state.items()}
    return state


def _build_and_load(config: WalrusConfig, state: dict[str, torch.Tensor], source) -> Walrus:
    state = _checked_state(state, source)
    with torch.device("meta"):
        model = Walrus(config)
    try:
        model.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{source}: weights do not match the {config.n_blocks}-block, "
                              f"{config.hidden_dim}-wide layout: {exc}") from exc
    leftover = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.device.type == "meta"]
    if leftover:
        raise CheckpointError(f"{source}: no weights for {leftover[:5]}")
    return model


def _verify_zip_crc(path: Path) -> None:
    """Check the CRC-32 that a zip-format torch file records for each entry (torch records them by
    default); entries recorded with CRC 0 (saved with CRC computation off) are not checked."""
    try:
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                if info.CRC == 0 and info.file_size:
                    continue
                with z.open(info) as fh:
                    while fh.read(1 << 24):
                        pass
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, NotImplementedError,
            RuntimeError, KeyError) as exc:
        raise CheckpointError(f"{path}: the torch checkpoint is corrupt or truncated ({_reason(exc)})") from exc


def official_state_dict(path: str | os.PathLike, verify: bool = True) -> dict[str, torch.Tensor]:
    """The model weights of an official release file (`torch.load(...)["app"]["model"]`).

    Loaded with ``weights_only=True`` (never arbitrary unpickling). With ``verify`` (the default) the
    CRC-32 of every entry of a zip-format file is checked first, so a byte-flipped file is refused.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    if verify and zipfile.is_zipfile(path):
        _verify_zip_crc(path)
    try:
        raw = torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:
        raise CheckpointError(f"{path}: not a readable torch checkpoint ({_reason(exc)})") from exc
    state = raw["app"]["model"] if isinstance(raw, dict) and isinstance(raw.get("app"), dict) \
        and "model" in raw["app"] else raw
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]
    if not isinstance(state, dict) or not state or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                                           for k, v in state.items()):
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

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    with open(path, "rb") as f:
        head = f.read(9)
    # safetensors: an 8-byte little-endian header length, then the JSON header. Tested first: the
    # length's low byte can be 0x80, the first byte of a legacy torch pickle.
    safetensors_like = len(head) == 9 and head[8:9] == b"{"
    if not safetensors_like and (head[:2] == b"PK" or head[:1] == b"\x80"):  # zip-based or legacy torch pickle
        return load_official(path, config=config, device=device, dtype=dtype)
    try:
        with safe_open(str(path), framework="pt") as f:
            ours = FORMAT_KEY in (f.metadata() or {})
    except Exception as exc:
        raise CheckpointError(f"{path}: neither a torch checkpoint nor a readable safetensors file "
                              f"({_reason(exc)})") from exc
    if ours:
        return load_checkpoint(path, device, dtype)
    model = _build_and_load(config or get_preset("walrus-1.3b").config, _safetensors_state(path), path)
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
