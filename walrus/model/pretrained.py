"""The pretrained model shipped inside the package: found, verified and loaded with no network.

`walrus.get_model("walrus-mini", weights="pretrained")` and `walrus.Surrogate.from_pretrained()`
load it. The file's sha256 is fixed here and printed in docs/model_card.md, so a test can tell that
the weights on disk are the ones the card describes; a mismatch is refused, never loaded.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from walrus.errors import ArgumentError, CheckpointError

__all__ = ["ShippedModel", "SHIPPED", "DEFAULT_PRETRAINED", "PRETRAINED_DIR", "shipped_path", "load_shipped",
           "file_sha256"]

PRETRAINED_DIR = Path(__file__).resolve().parent.parent / "pretrained"


@dataclass(frozen=True)
class ShippedModel:
    preset: str
    filename: str
    sha256: str        # of the file's bytes (`sha256sum`)
    description: str


SHIPPED: dict[str, ShippedModel] = {
    "walrus-mini": ShippedModel(
        "walrus-mini", "walrus-mini.safetensors",
        "0" * 64,
        "walrus-mini pretrained on the generated corpus (examples/configs/pretrain_corpus.yaml); "
        "see docs/model_card.md"),
}
DEFAULT_PRETRAINED = "walrus-mini"


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def shipped_path(preset: str = DEFAULT_PRETRAINED, *, verify: bool = True) -> Path:
    """The shipped weights of ``preset``, checked against the recorded sha256."""
    if preset not in SHIPPED:
        raise ArgumentError("no pretrained weights ship with this preset", field="name",
                            expected=f"one of {sorted(SHIPPED)} with weights='pretrained'", received=repr(preset))
    entry = SHIPPED[preset]
    path = PRETRAINED_DIR / entry.filename
    if not path.is_file():
        raise CheckpointError(f"{path}: the shipped weights are missing from this installation", field="name",
                              expected=f"{entry.filename} inside the walrus package", received="no file",
                              hint="reinstall walrus-physics; a source checkout has it under walrus/pretrained/")
    if verify:
        got = file_sha256(path)
        if got != entry.sha256:
            raise CheckpointError(f"{path}: shipped weights do not match their recorded sha256", field="name",
                                  expected=entry.sha256, received=got,
                                  hint="the file is corrupt or was replaced; reinstall walrus-physics")
    return path


def load_shipped(preset: str = DEFAULT_PRETRAINED, *, device: str | torch.device = "cpu",
                 dtype: torch.dtype | None = None):
    """The shipped model, in float32 unless ``dtype`` says otherwise (the file stores bfloat16)."""
    from walrus.model.checkpoint import load_checkpoint

    return load_checkpoint(shipped_path(preset), device=device, dtype=dtype or torch.float32)
