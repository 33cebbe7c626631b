"""The Hugging Face hub: the official repo's files at a pinned revision, read through huggingface_hub's
own cache (so ``HF_HOME``, ``HF_HUB_CACHE`` and ``HF_HUB_OFFLINE`` work as everywhere else).

The official repo ``polymathic-ai/walrus`` holds ``walrus.pt`` (the weights, ``["app"]["model"]``) and
``extended_config.yaml`` (the training config, whose ``model`` and ``data.field_index_map_override``
sections describe the network). A repo in that layout loads in one call; so does a repo holding one
of our self-describing safetensors checkpoints (``filename=`` names it).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import torch

from walrus.errors import ArgumentError, CheckpointError, ConfigError
from walrus.model.checkpoint import FORMAT_KEY, load_any
from walrus.model.config import WalrusConfig
from walrus.model.network import Walrus

HUB_REPO = "polymathic-ai/walrus"
HUB_FILENAME = "walrus.pt"
HUB_CONFIG_FILENAME = "extended_config.yaml"
#: The commit of polymathic-ai/walrus that downloads default to. It was read off a stored copy of the
#: hub's ``resolve/<commit>/README.md`` URL for this repo (the model card of the Nov 2025 release);
#: that the weights sit at this commit is inferred, not checked here (no network). Override it per
#: call with ``revision=`` or for a whole process with the ``WALRUS_HUB_REVISION`` environment variable.
HUB_REVISION = "f8fd578e7d8a15d2e510d32d5952b9eddc37548c"
REVISION_ENV = "WALRUS_HUB_REVISION"
_MAX_CONFIG_BYTES = 1 << 20
_REPO_PART = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?"
_REPO_ID = re.compile(rf"{_REPO_PART}/{_REPO_PART}")
_CHECKPOINT_SUFFIXES = (".safetensors", ".pt", ".pth", ".ckpt", ".bin")


def default_revision() -> str:
    """The revision a hub load uses when none is passed: ``$WALRUS_HUB_REVISION``, else :data:`HUB_REVISION`."""
    return os.environ.get(REVISION_ENV, "").strip() or HUB_REVISION


def looks_like_repo_id(name: str) -> bool:
    """``owner/name`` in the hub's spelling, and not a file name (no checkpoint suffix, no ``./`` or ``~``)."""
    return (isinstance(name, str) and _REPO_ID.fullmatch(name) is not None and ".." not in name
            and not name.lower().endswith(_CHECKPOINT_SUFFIXES))


def hub_cache_dir() -> Path:
    """Where huggingface_hub keeps its cache in this process (``$HF_HUB_CACHE``, or ``$HF_HOME/hub``)."""
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def _text_arg(value, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ArgumentError("must be a non-empty string", field=name, expected="a str", received=repr(value)[:80])
    return value.strip()


def hub_download(repo_id: str = HUB_REPO, filename: str = HUB_FILENAME, revision: str | None = None) -> Path:
    """The local path of one file of a hub repo at ``revision``, fetched into the hub cache if needed.

    Any failure (offline without the file cached, unknown repo, revision or file, no network) raises
    :class:`CheckpointError` saying what to download and where it goes.
    """
    repo_id, filename = _text_arg(repo_id, "repo_id"), _text_arg(filename, "filename")
    revision = default_revision() if revision is None else _text_arg(revision, "revision")
    try:
        from huggingface_hub import constants, hf_hub_download
    except ImportError as exc:
        raise ImportError(f"loading {repo_id} from the hub needs huggingface_hub: "
                          "`pip install walrus-physics[hub]`; or pass the path of a local checkpoint") from exc
    try:
        return Path(hf_hub_download(repo_id, filename, revision=revision))
    except Exception as exc:  # huggingface_hub's errors (offline cache miss, 404s, HTTP and network errors)
        offline = bool(constants.HF_HUB_OFFLINE)
        raise CheckpointError(
            f"could not get {filename!r} of hub repo {repo_id!r} at revision {revision!r}"
            f"{' (HF_HUB_OFFLINE is set)' if offline else ''}: {type(exc).__name__}: {str(exc)[:300]}",
            field="filename", expected=f"{filename} of {repo_id} in the hub cache",
            received="not cached" if offline else "a download error",
            hint=_where_to_put_it(repo_id, filename, revision)) from exc


def _where_to_put_it(repo_id: str, filename: str, revision: str) -> str:
    cache = hub_cache_dir()
    folder = cache / f"models--{repo_id.replace('/', '--')}"
    return (f"with the same HF_HOME and a network, run `hf download {repo_id} {filename} --revision {revision}`: "
            f"it lands in {folder}, under $HF_HOME/hub (now {cache}); or pass the path of a local "
            f"checkpoint file instead")


def _get(tree, keys: str, source, required: bool = True):
    node = tree
    for key in keys.split("."):
        if not isinstance(node, dict) or key not in node:
            if required:
                raise ConfigError(f"{source}: missing entry", field=keys, expected="present in the config",
                                  received="absent")
            return None
        node = node[key]
    return node


def _kernel_pair(value, source, key: str) -> tuple[int, int]:
    pairs = value if isinstance(value, list) else None
    if not pairs or not all(isinstance(p, list) and len(p) == 2 for p in pairs) or any(p != pairs[0] for p in pairs):
        raise ConfigError(f"{source}: expected the same [stride1, stride2] pair on every axis", field=key,
                          expected="e.g. [[8, 4], [8, 4], [8, 4]]", received=repr(value)[:80])
    return tuple(pairs[0])


def config_from_extended_yaml(path: str | os.PathLike) -> WalrusConfig:
    """The network an official ``extended_config.yaml`` describes (its ``model`` section and the
    vocabulary in ``data.field_index_map_override``); everything else keeps the release defaults."""
    import yaml

    path = Path(path)
    if path.stat().st_size > _MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: too large for a config file", field="config",
                          expected=f"at most {_MAX_CONFIG_BYTES} bytes", received=path.stat().st_size)
    try:
        tree = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not readable YAML ({exc})", field="config") from exc
    model = _get(tree, "model", path)
    index = _get(tree, "data.field_index_map_override", path)
    if not isinstance(index, dict) or not index or sorted(index.values()) != list(range(len(index))):
        raise ConfigError(f"{path}: the vocabulary must map each field name to one of 0..n-1",
                          field="data.field_index_map_override", expected="{name: id} with ids 0..n-1",
                          received=repr(index)[:120])
    heads = {_get(model, f"processor.{m}.num_heads", path) for m in ("space_mixing", "time_mixing")}
    if len(heads) != 1:
        raise ConfigError(f"{path}: space and time attention must use the same head count",
                          field="model.processor.*.num_heads", expected="equal values", received=sorted(heads))
    settings = {
        "hidden_dim": _get(model, "hidden_dim", path),
        "intermediate_dim": _get(model, "intermediate_dim", path),
        "n_blocks": _get(model, "processor_blocks", path),
        "groups": _get(model, "groups", path),
        "n_heads": heads.pop(),
        "field_names": tuple(name for name, _ in sorted(index.items(), key=lambda kv: kv[1])),
    }
    kernels = _get(model, "encoder.base_kernel_size3d", path, required=False)
    if kernels is not None:
        settings["base_kernels"] = _kernel_pair(kernels, path, "model.encoder.base_kernel_size3d")
    for ours, theirs in (("drop_path", "drop_path"), ("input_field_drop", "input_field_drop"),
                         ("jitter_patches", "jitter_patches"),
                         ("gradient_checkpointing_freq", "gradient_checkpointing_freq")):
        value = _get(model, theirs, path, required=False)
        if value is not None:
            settings[ours] = value
    try:
        return WalrusConfig(**settings)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: not a valid network config ({exc})", field="model") from exc


def _self_describing(path: Path) -> bool:
    """One of our safetensors checkpoints (it carries its own config)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return FORMAT_KEY in (f.metadata() or {})
    except Exception:
        return False


def load_from_hub(repo_id: str = HUB_REPO, *, filename: str | None = None, revision: str | None = None,
                  device: str | torch.device = "cpu", dtype: torch.dtype | None = None) -> Walrus:
    """A network from a hub repo: ``filename`` (``walrus.pt`` by default) plus, unless it is one of our
    self-describing checkpoints, the repo's ``extended_config.yaml`` from the same revision."""
    weights = hub_download(repo_id, filename or HUB_FILENAME, revision)
    if _self_describing(weights):
        return load_any(weights, device=device, dtype=dtype)
    config = config_from_extended_yaml(hub_download(repo_id, HUB_CONFIG_FILENAME, revision))
    return load_any(weights, config=config, device=device, dtype=dtype)
