"""The pretrained model shipped inside the package: found, verified and loaded with no network.

`walrus.get_model("walrus-mini", weights="pretrained")` and `walrus.Surrogate.from_pretrained()`
load it. The weights' sha256 (walrus's content checksum: every tensor's name, dtype, shape and
bytes plus the metadata, independent of the file's byte layout, which safetensors does not keep
stable between writes) is fixed here and printed in docs/model_card.md, so a test can tell that the
weights on disk are the ones the card describes; a mismatch is refused, never loaded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from walrus.errors import ArgumentError, CheckpointError

__all__ = ["ShippedModel", "SHIPPED", "DEFAULT_PRETRAINED", "PRETRAINED_DIR", "shipped_path", "load_shipped",
           "weights_sha256", "write_bf16"]

PRETRAINED_DIR = Path(__file__).resolve().parent.parent / "pretrained"


@dataclass(frozen=True)
class ShippedModel:
    preset: str
    filename: str
    sha256: str        # walrus.model.checkpoint.content_sha256 of the file's tensors and metadata
    description: str


SHIPPED: dict[str, ShippedModel] = {
    "walrus-mini": ShippedModel(
        "walrus-mini", "walrus-mini.safetensors",
        "03469d000d2db253e886ea13b728b086373a96303ed33a773ce994bbc7b73def",
        "walrus-mini pretrained on the generated corpus (examples/configs/pretrain_corpus.yaml); "
        "see docs/model_card.md"),
}
DEFAULT_PRETRAINED = "walrus-mini"


def weights_sha256(path: str | os.PathLike) -> str:
    """The content checksum of a walrus safetensors file (the same bytes give the same value however
    the file was laid out)."""
    from walrus.model.checkpoint import _safetensors_state, content_sha256, read_metadata

    return content_sha256(_safetensors_state(Path(path)), read_metadata(path))


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
        got = weights_sha256(path)
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


def write_bf16(src: str | os.PathLike, dst: str | os.PathLike) -> str:
    """Store a trained checkpoint's weights in bfloat16 (half the bytes; the network runs in float32
    from them), keeping its config and metadata; returns the new file's sha256.

        python -c "from walrus.model.pretrained import write_bf16; \\
                   print(write_bf16('runs/pretrain_corpus/model.safetensors', 'walrus/pretrained/walrus-mini.safetensors'))"
    """
    from walrus.model.checkpoint import load_checkpoint, read_metadata, save_checkpoint

    meta = read_metadata(src)
    model = load_checkpoint(src).to(torch.bfloat16)
    user = {k[len("user."):]: v for k, v in meta.items() if k.startswith("user.")}
    save_checkpoint(model, dst, preset=meta.get("preset") or None, metadata=user)
    return weights_sha256(dst)
