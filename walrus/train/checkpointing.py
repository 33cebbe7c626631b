"""Training checkpoints: written atomically, verified on load, resumable exactly.

Layout under `<out_dir>/checkpoints/`:
  step_000123/            one directory per checkpoint (renamed into place when complete)
    state.pt | dcp/ | ds/ the engine's state (one file; torch.distributed.checkpoint shards; DeepSpeed's)
    trainer.json          epoch, step, global step, config
    MANIFEST.json         sha256 of every file, written last: no manifest, no checkpoint
  latest                  the name of the newest complete checkpoint
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import torch
import torch.distributed as dist

from walrus.atomic import atomic_path
from walrus.model.checkpoint import CheckpointError


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def save_training_checkpoint(root: Path, engine, scheduler, progress: dict, is_main: bool) -> Path:
    """Save the engine's model+optimizer state, the scheduler and the loop position; all ranks call this."""
    root.mkdir(parents=True, exist_ok=True)
    name = f"step_{progress['global_step']:09d}"
    final, tmp = root / name, root / f".{name}.tmp"
    if is_main and tmp.exists():
        shutil.rmtree(tmp)
    _barrier()
    tmp.mkdir(parents=True, exist_ok=True)
    if engine.name == "deepspeed":
        engine.module.save_checkpoint(str(tmp / "ds"), tag="state", client_state={"scheduler": scheduler.state_dict()})
    elif engine.name == "fsdp":
        import torch.distributed.checkpoint as dcp
        from torch.distributed.checkpoint.state_dict import get_state_dict

        model_sd, optim_sd = get_state_dict(engine.module, engine.optimizer)
        dcp.save({"model": model_sd, "optim": optim_sd}, checkpoint_id=str(tmp / "dcp"))
    else:
        torch.save({"model": engine.module.state_dict(), "optimizer": engine.optimizer.state_dict()}, tmp / "state.pt")
    _barrier()
    if is_main:
        (tmp / "trainer.json").write_text(json.dumps(dict(progress, scheduler=scheduler.state_dict()), default=str))
        manifest = {str(p.relative_to(tmp)): _sha256(p) for p in sorted(tmp.rglob("*")) if p.is_file()}
        (tmp / "MANIFEST.json").write_text(json.dumps(manifest, indent=1))
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        with atomic_path(root / "latest") as pointer:
            pointer.write_text(name)
    _barrier()
    return final


def latest_checkpoint(root: Path) -> Path | None:
    pointer = root / "latest"
    if not pointer.is_file():
        return None
    path = root / pointer.read_text().strip()
    if not path.is_dir():
        raise CheckpointError(f"{pointer}: points at {path.name}, which does not exist")
    return path


def verify_checkpoint(path: Path) -> dict:
    """Check every file against the manifest; a truncated or altered checkpoint is refused."""
    manifest_path = path / "MANIFEST.json"
    if not manifest_path.is_file():
        raise CheckpointError(f"{path}: incomplete checkpoint (no MANIFEST.json)")
    try:
        manifest = json.loads(manifest_path.read_text())
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{manifest_path}: unreadable manifest ({exc})") from exc
    for rel, digest in manifest.items():
        file = path / rel
        if not file.is_file():
            raise CheckpointError(f"{path}: {rel} is listed in the manifest but missing")
        if _sha256(file) != digest:
            raise CheckpointError(f"{path}: {rel} is corrupt or truncated (sha256 differs from the manifest)")
    return json.loads((path / "trainer.json").read_text())


def load_training_checkpoint(path: Path, engine, scheduler) -> dict:
    """Restore engine and scheduler state in place; returns the saved loop position."""
    progress = verify_checkpoint(path)
    if engine.name == "deepspeed":
        engine.module.load_checkpoint(str(path / "ds"), tag="state")
    elif engine.name == "fsdp":
        import torch.distributed.checkpoint as dcp
        from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

        model_sd, optim_sd = get_state_dict(engine.module, engine.optimizer)
        state = {"model": model_sd, "optim": optim_sd}
        dcp.load(state, checkpoint_id=str(path / "dcp"))
        set_state_dict(engine.module, engine.optimizer, model_state_dict=state["model"], optim_state_dict=state["optim"])
    else:
        state = torch.load(path / "state.pt", map_location="cpu", weights_only=True)
        engine.module.load_state_dict(state["model"])
        engine.optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(progress.pop("scheduler"))
    return progress


def full_model_state(engine) -> dict[str, torch.Tensor] | None:
    """The unsharded model weights on CPU (collective for sharded engines; None off rank 0)."""
    is_main = not dist.is_initialized() or dist.get_rank() == 0
    if engine.name == "fsdp":
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        state = get_model_state_dict(engine.module, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    elif engine.name == "deepspeed" and engine.module.zero_optimization_stage() == 3:
        state = engine.module._zero3_consolidated_16bit_state_dict()
    else:
        state = {k: v.detach().cpu() for k, v in engine.raw.state_dict().items()}
    return state if is_main else None
