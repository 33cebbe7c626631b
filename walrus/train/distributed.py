"""Process groups and the three training engines: one process, FSDP2 (HSDP on a 2-D mesh) and
DeepSpeed ZeRO. Each engine offers the same small interface to the trainer."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    replicate: int = 1   # mesh rows: replicas (across nodes)
    shard: int = 1       # mesh columns: ranks that share parameter shards (within a node)

    @property
    def shard_group(self) -> int:
        """Index of this rank's shard group (its row in the mesh)."""
        return self.rank // self.shard

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device: torch.device, mesh_shape: tuple[int, int] | None) -> DistInfo:
    """Join the process group started by torchrun/deepspeed (env:// rendezvous), if any."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1 and not dist.is_initialized():
        return DistInfo()
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend)
    rank, world = dist.get_rank(), dist.get_world_size()
    replicate, shard = mesh_shape or (1, world)
    if replicate * shard != world:
        raise ValueError(f"mesh {replicate} x {shard} does not cover the {world} processes")
    return DistInfo(rank, world, int(os.environ.get("LOCAL_RANK", "0")), replicate, shard)


def pick_device(name: str, info_local_rank: int = 0) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", info_local_rank)
        torch.cuda.set_device(device)
    return device


class SingleEngine:
    """One process (or plain data parallel is not used: use FSDP with a (N, 1) mesh instead)."""

    name = "single"

    def __init__(self, model: nn.Module, optimizer_factory, grad_clip: float):
        self.module = model
        self.raw = model
        self.optimizer = optimizer_factory([p for p in model.parameters() if p.requires_grad])
        self.grad_clip = grad_clip

    def backward(self, loss: torch.Tensor) -> None:
        loss.backward()

    def step(self) -> float:
        params = [p for p in self.module.parameters() if p.grad is not None]
        norm = torch.nn.utils.clip_grad_norm_(params, self.grad_clip) if params else torch.tensor(0.0)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return float(norm.full_tensor() if hasattr(norm, "full_tensor") else norm)


class FSDPEngine(SingleEngine):
    """FSDP2 `fully_shard` per block, then the root, on a (replicate, shard) device mesh:
    parameters are sharded within a row and replicated across rows (HSDP)."""

    name = "fsdp"

    def __init__(self, model: nn.Module, optimizer_factory, grad_clip: float, info: DistInfo,
                 device: torch.device, mixed_precision: str | None = None):
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

        self.mesh = init_device_mesh(device.type, (info.replicate, info.shard), mesh_dim_names=("replicate", "shard"))
        policy = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32) \
            if mixed_precision == "bf16" else MixedPrecisionPolicy()
        for block in model.blocks:
            fully_shard(block, mesh=self.mesh, mp_policy=policy)
        fully_shard(model, mesh=self.mesh, mp_policy=policy)
        super().__init__(model, optimizer_factory, grad_clip)


class DeepSpeedEngine:
    """DeepSpeed ZeRO stage 1-3 with a client torch optimizer (nothing to JIT-compile)."""

    name = "deepspeed"

    def __init__(self, model: nn.Module, optimizer_factory, grad_clip: float, zero_stage: int,
                 extra_config: dict | None = None):
        import deepspeed

        self.raw = model
        config = {
            "train_micro_batch_size_per_gpu": 1,
            "gradient_accumulation_steps": 1,
            "gradient_clipping": grad_clip,
            "zero_optimization": {"stage": zero_stage},
            "zero_allow_untested_optimizer": True,
            "steps_per_print": 10 ** 9,
        }
        config.update(extra_config or {})
        # The torch optimizer stays the one the LR scheduler drives: DeepSpeed's ZeRO wrapper
        # keeps using its param_groups (and their "lr") for the partitioned parameters.
        self.optimizer = optimizer_factory([p for p in model.parameters() if p.requires_grad])
        self.module, _, _, _ = deepspeed.initialize(model=model, optimizer=self.optimizer, config=config)

    def backward(self, loss: torch.Tensor) -> None:
        self.module.backward(loss)

    def step(self) -> float:
        self.module.step()
        norm = self.module.get_global_grad_norm()
        return float(norm) if norm is not None else float("nan")
