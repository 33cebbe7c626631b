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
import pickle
import shutil
import warnings
import zipfile
from pathlib import Path

import torch
import torch.distributed as dist

from walrus.atomic import atomic_path, fsync_dir, fsync_tree, remove_stale_temps, temp_path
from walrus.model.checkpoint import CheckpointError

_PICKLE_ERRORS = (pickle.UnpicklingError, EOFError, RuntimeError, ValueError, KeyError, TypeError, AttributeError,
                  IndexError, OSError, zipfile.BadZipFile, UnicodeDecodeError)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def _shared_pid(is_main: bool) -> int:
    """Rank 0's process id on every rank (it names the temporary directory all ranks write into)."""
    pid = os.getpid()
    if dist.is_initialized():
        box = [pid if is_main else None]
        dist.broadcast_object_list(box, src=0)
        pid = int(box[0])
    return pid


def save_training_checkpoint(root: Path, engine, scheduler, progress: dict, is_main: bool) -> Path:
    """Save the engine's model+optimizer state, the scheduler and the loop position; all ranks call this.

    Everything is written into ``.<step>.<pid>.<random>.tmp`` (named after rank 0's process), fsynced
    and renamed into place; temporaries of killed runs are removed first.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    name = f"step_{progress['global_step']:09d}"
    final = root / name
    pid = _shared_pid(is_main)
    tmp = temp_path(final, pid)
    if dist.is_initialized():  # one random name for all ranks
        box = [tmp.name if is_main else None]
        dist.broadcast_object_list(box, src=0)
        tmp = root / box[0]
    if is_main:
        remove_stale_temps(root, "step_*")
        remove_stale_temps(root, "latest")
    _barrier()
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        if engine.name == "deepspeed":  # DeepSpeed's own format: every rank writes its ZeRO partitions
            engine.save_state(tmp / "ds", client_state={"scheduler": scheduler.state_dict()})
        elif engine.name == "fsdp":
            import torch.distributed.checkpoint as dcp
            from torch.distributed.checkpoint.state_dict import get_state_dict

            model_sd, optim_sd = get_state_dict(engine.module, engine.optimizer)
            dcp.save({"model": model_sd, "optim": optim_sd}, checkpoint_id=str(tmp / "dcp"))
        else:
            torch.save({"model": engine.module.state_dict(), "optimizer": engine.optimizer.state_dict()},
                       tmp / "state.pt")
        _barrier()
        if is_main:
            (tmp / "trainer.json").write_text(json.dumps(dict(progress, scheduler=scheduler.state_dict()),
                                                         default=str))
            manifest = {str(p.relative_to(tmp)): _sha256(p) for p in sorted(tmp.rglob("*")) if p.is_file()}
            (tmp / "MANIFEST.json").write_text(json.dumps(manifest, indent=1))
            fsync_tree(tmp)
            if final.exists():  # the same step saved again: move the old one aside, then drop it
                old = temp_path(final)
                os.replace(final, old)
                os.replace(tmp, final)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, final)
            fsync_dir(root)
            with atomic_path(root / "latest") as pointer:
                pointer.write_text(name)
    except BaseException:
        if is_main:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    _barrier()
    return final


def latest_checkpoint(root: Path) -> Path | None:
    pointer = Path(root) / "latest"
    if not pointer.is_file():
        return None
    try:
        name = pointer.read_text().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{pointer}: unreadable pointer to the latest checkpoint ({exc})") from exc
    if not name or "/" in name or "\\" in name or name in (".", ".."):
        raise CheckpointError(f"{pointer}: does not name a checkpoint directory (holds {name[:80]!r})")
    path = Path(root) / name
    if not path.is_dir():
        raise CheckpointError(f"{pointer}: points at {path.name}, which does not exist")
    return path


def _read_json(file: Path, what: str):
    try:
        return json.loads(file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise CheckpointError(f"{file}: unreadable {what} ({type(exc).__name__}: {exc})") from exc


def verify_checkpoint(path: Path) -> dict:
    """Check every file against the manifest; a truncated or altered checkpoint is refused.

    Returns the loop position (``trainer.json``), checked to hold the keys a resume needs.
    """
    path = Path(path)
    manifest_path = path / "MANIFEST.json"
    if not manifest_path.is_file():
        raise CheckpointError(f"{path}: incomplete checkpoint (no MANIFEST.json)")
    manifest = _read_json(manifest_path, "manifest")
    if not isinstance(manifest, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                 for k, v in manifest.items()):
        raise CheckpointError(f"{manifest_path}: not a manifest (expected a JSON object of file -> sha256)")
    if "trainer.json" not in manifest:
        raise CheckpointError(f"{path}: trainer.json is not listed in the manifest")
    base = path.resolve()
    for rel, digest in manifest.items():
        file = path / rel
        if Path(rel).is_absolute() or ".." in Path(rel).parts or base not in file.resolve().parents:
            raise CheckpointError(f"{manifest_path}: entry {rel!r} points outside the checkpoint")
        if not file.is_file():
            raise CheckpointError(f"{path}: {rel} is listed in the manifest but missing")
        if _sha256(file) != digest:
            raise CheckpointError(f"{path}: {rel} is corrupt or truncated (sha256 differs from the manifest)")
    progress = _read_json(path / "trainer.json", "trainer state")
    if not isinstance(progress, dict):
        raise CheckpointError(f"{path / 'trainer.json'}: not a JSON object")
    for key in ("epoch", "step", "global_step", "scheduler"):
        if key not in progress:
            raise CheckpointError(f"{path / 'trainer.json'}: missing key {key!r}")
    for key in ("epoch", "step", "global_step"):
        if not isinstance(progress[key], int) or isinstance(progress[key], bool) or progress[key] < 0:
            raise CheckpointError(f"{path / 'trainer.json'}: {key!r} must be a non-negative integer, "
                                  f"got {progress[key]!r}")
    return progress


def _unreadable(path: Path, exc: BaseException) -> CheckpointError:
    """A CheckpointError for a state file that does not load (never advising an unsafe unpickling)."""
    if isinstance(exc, pickle.UnpicklingError):
        why = "holds objects other than tensors and plain containers, which a weights-only load refuses"
    else:
        why = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
    return CheckpointError(f"{path}: not a loadable training state ({why}); the checkpoint is corrupt "
                           "or was not written by walrus")


def load_training_checkpoint(path: Path, engine, scheduler) -> dict:
    """Restore engine and scheduler state in place; returns the saved loop position."""
    path = Path(path)
    progress = verify_checkpoint(path)
    try:
        if engine.name == "deepspeed":
            if not (path / "ds").is_dir():
                raise CheckpointError(f"{path}: holds no ds/ DeepSpeed checkpoint, so the deepspeed engine cannot "
                                      "resume from it (it was written by another engine)")
            engine.load_state(path / "ds")  # each rank its partition; the ZeRO stage may not change
        elif engine.name == "fsdp" or (path / "dcp").is_dir():
            # DCP reshards on load: shards written by N ranks load into M ranks' FSDP2 shards, or
            # into one process's plain tensors (a single-engine fine-tune of a sharded run).
            import torch.distributed.checkpoint as dcp
            from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

            if not (path / "dcp").is_dir():
                raise CheckpointError(f"{path}: holds no dcp/ shards, so the {engine.name} engine cannot resume "
                                      f"from it (it was written by another engine)")
            model_sd, optim_sd = get_state_dict(engine.module, engine.optimizer)
            state = {"model": model_sd, "optim": optim_sd}
            _dcp_load(dcp, state, path / "dcp")
            set_state_dict(engine.module, engine.optimizer, model_state_dict=state["model"],
                           optim_state_dict=state["optim"])
        else:
            file = path / "state.pt"
            state = torch.load(file, map_location="cpu", weights_only=True)
            if not isinstance(state, dict) or not isinstance(state.get("model"), dict) \
                    or not isinstance(state.get("optimizer"), dict):
                raise CheckpointError(f"{file}: expected a dict with 'model' and 'optimizer' state dicts")
            _check_finite(file, state["model"])
            engine.module.load_state_dict(state["model"])
            engine.optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(progress.pop("scheduler"))
    except CheckpointError:
        raise
    except _PICKLE_ERRORS as exc:
        raise _unreadable(path, exc) from exc
    return progress


def _dcp_load(dcp, state: dict, directory: Path) -> None:
    """dcp.load into `state` in place: collective under a process group, else in this process alone."""
    if dist.is_initialized():
        dcp.load(state, checkpoint_id=str(directory))
        return
    with warnings.catch_warnings():  # "assuming the intent is to load in a single process": it is
        warnings.filterwarnings("ignore", message=".*single process")
        dcp.load(state, checkpoint_id=str(directory), no_dist=True)


def resolve_training_checkpoint(path: Path | str) -> Path:
    """The training checkpoint a user names by directory: a ``step_N/`` itself, a ``checkpoints/``
    directory (its ``latest``), or a run's ``out_dir`` (its ``checkpoints/latest``)."""
    path = Path(path)
    if (path / "MANIFEST.json").is_file() or (path / "trainer.json").is_file():
        return path
    for root in (path, path / "checkpoints"):
        found = latest_checkpoint(root)
        if found is not None:
            return found
    raise CheckpointError(f"{path}: not a training checkpoint (no MANIFEST.json), nor a checkpoints/ directory "
                          "or run directory with a `latest` checkpoint")


def training_checkpoint_model(path: Path | str):
    """The model weights of a training checkpoint directory as a Walrus model on the CPU, for
    fine-tuning (`init_from:` a directory). The architecture is rebuilt from the checkpoint's own
    config (preset, overrides, added fields). DCP shards written by any number of ranks are
    gathered into full tensors (resharding on load); collective when a process group exists."""
    import walrus
    from walrus.model.checkpoint import extend_vocabulary

    path = resolve_training_checkpoint(path)
    progress = verify_checkpoint(path)
    config = progress.get("config")
    if not isinstance(config, dict) or not isinstance(config.get("preset"), str):
        raise CheckpointError(f"{path / 'trainer.json'}: holds no training config (preset) to rebuild the model from")
    try:
        model = walrus.get_model(config["preset"], **(config.get("model_overrides") or {}))
        if config.get("new_fields"):
            model = extend_vocabulary(model, config["new_fields"], init_from=config.get("new_field_init") or {})
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path / 'trainer.json'}: its config does not rebuild a model ({exc})") from exc
    state = model.state_dict()
    try:
        if (path / "dcp").is_dir():
            import torch.distributed.checkpoint as dcp

            box = {"model": state}
            _dcp_load(dcp, box, path / "dcp")
            state = box["model"]
        elif (path / "state.pt").is_file():
            saved = torch.load(path / "state.pt", map_location="cpu", weights_only=True)
            if not isinstance(saved, dict) or not isinstance(saved.get("model"), dict):
                raise CheckpointError(f"{path / 'state.pt'}: expected a dict with a 'model' state dict")
            state = saved["model"]
        else:
            raise CheckpointError(f"{path}: holds neither dcp/ shards nor state.pt (a DeepSpeed checkpoint: "
                                  "export it with `trainer.export()` and give that file as init_from)")
        _check_finite(path, state)
        model.load_state_dict(state, strict=True)
    except CheckpointError:
        raise
    except _PICKLE_ERRORS as exc:
        raise _unreadable(path, exc) from exc
    return model


def _check_finite(file: Path, state: dict) -> None:
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(f"{file}: model entry {key!r} is a {type(value).__name__}, not a tensor")
        if (value.is_floating_point() or value.is_complex()) and not bool(torch.isfinite(value).all()):
            raise CheckpointError(f"{file}: tensor {key!r} holds non-finite values (NaN or inf)")


def full_model_state(engine) -> dict[str, torch.Tensor] | None:
    """The unsharded model weights on CPU (collective for sharded engines; None off rank 0)."""
    is_main = not dist.is_initialized() or dist.get_rank() == 0
    if engine.name == "fsdp":
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        state = get_model_state_dict(engine.module, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    elif engine.name == "deepspeed":  # the fp32 master weights, gathered over the ZeRO partitions
        state = engine.full_state()
    else:
        state = {k: v.detach().cpu() for k, v in engine.raw.state_dict().items()}
    return state if is_main else None
