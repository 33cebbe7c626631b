"""Process groups and the three training engines: one process, FSDP2 (HSDP on a 2-D mesh) and
DeepSpeed ZeRO. Each engine offers the same small interface to the trainer."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from walrus.errors import ConfigError


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


def launch_env() -> tuple[int, int, int]:
    """(rank, world size, local rank) as the launcher (torchrun, srun+torchrun, deepspeed) set them;
    (0, 1, 0) in a plain process."""
    def read(name: str, default: int) -> int:
        value = os.environ.get(name)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except ValueError:
            raise ConfigError(f"the launcher's environment variable {name} is not an integer", field=name,
                              expected="an integer set by torchrun/deepspeed", received=repr(value)) from None

    return read("RANK", 0), read("WORLD_SIZE", 1), read("LOCAL_RANK", 0)


def launched() -> bool:
    """True under a launcher that expects a process group (torchrun sets WORLD_SIZE and MASTER_ADDR)."""
    return launch_env()[1] > 1 or ("WORLD_SIZE" in os.environ and "MASTER_ADDR" in os.environ)


def check_mesh(mesh_shape, world: int) -> tuple[int, int]:
    """The (replicate, shard) mesh for `world` processes: `mesh_shape`, or (1, world) when None.
    A mesh whose cells are not exactly the processes is refused."""
    replicate, shard = mesh_shape or (1, world)
    if replicate * shard != world:
        raise ConfigError("the device mesh must hold every process exactly once", field="mesh",
                          expected=f"[replicate, shard] with replicate x shard = {world}, the world size",
                          received=f"[{replicate}, {shard}], {replicate * shard} processes",
                          hint=f"use [nodes, processes per node], or leave mesh out for [1, {world}]")
    return replicate, shard


def init_distributed(device: torch.device, mesh_shape: tuple[int, int] | None) -> DistInfo:
    """Join the process group started by torchrun/deepspeed (env:// rendezvous), if any.

    Call it after `pick_device`, which binds this rank's GPU (LOCAL_RANK) first: NCCL then builds
    its communicators on that device, never on GPU 0 for every rank. GPUs use NCCL, the CPU gloo.
    """
    local_rank = launch_env()[2]
    if not dist.is_initialized() and not launched():
        check_mesh(mesh_shape, 1)
        return DistInfo()
    if not dist.is_initialized():
        if device.type == "cuda":
            # device_id binds the default group to this rank's GPU (and connects NCCL eagerly).
            dist.init_process_group("nccl", device_id=device)
        else:
            dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    replicate, shard = check_mesh(mesh_shape, world)
    return DistInfo(rank, world, local_rank, replicate, shard)


def pick_device(name: str, local_rank: int | None = None) -> torch.device:
    """The torch device of this rank: "auto"/"cuda" become cuda:LOCAL_RANK (read from the
    environment when `local_rank` is None), which is made the current CUDA device at once, before
    any process group or tensor touches a GPU."""
    if local_rank is None:
        local_rank = launch_env()[2]
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type != "cuda":
        return device
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE") or "1")
    if device.index is None:
        device = torch.device("cuda", local_rank)
    elif local_world > 1:
        raise ConfigError("one GPU named for several processes on this node", field="device",
                          expected="auto or cuda (each process then takes cuda:LOCAL_RANK)",
                          received=f"{name!r} with {local_world} processes per node")
    count = torch.cuda.device_count()
    if device.index >= count:
        raise ConfigError("this process's GPU does not exist", field="device",
                          expected=f"a GPU index below {count} (GPUs visible on this node)",
                          received=f"cuda:{device.index} (LOCAL_RANK={local_rank})",
                          hint="start at most one process per GPU: --nproc_per_node <= GPUs per node")
    torch.cuda.set_device(device)
    return device


class SingleEngine:
    """One process (or plain data parallel is not used: use FSDP with a (N, 1) mesh instead)."""

    name = "single"
    accumulates = False   # the trainer divides the loss and steps every grad_accumulation micro-batches

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
    """DeepSpeed ZeRO stage 1-3 with a client torch optimizer (nothing to JIT-compile).

    DeepSpeed owns gradient accumulation (`accumulates = True`): its config holds
    `gradient_accumulation_steps`, and the trainer calls `backward(loss)` and `step()` on every
    micro-batch with the plain loss; DeepSpeed divides the loss by the accumulation steps, keeps
    (ZeRO-2/3: reduces and partitions) the gradients, and runs the optimizer only at the boundary.
    Checkpoints are DeepSpeed's own (`save_checkpoint`/`load_checkpoint`): every rank writes its
    partition of the optimizer state (and, under ZeRO-3, of the weights)."""

    name = "deepspeed"
    accumulates = True

    def __init__(self, model: nn.Module, optimizer_factory, grad_clip: float, zero_stage: int,
                 extra_config: dict | None = None, grad_accumulation: int = 1, micro_batch_size: int = 1):
        import deepspeed

        self.raw = model
        self.zero_stage = zero_stage
        config = {
            "train_micro_batch_size_per_gpu": micro_batch_size,
            "gradient_accumulation_steps": grad_accumulation,
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
        if zero_stage == 3:
            self._register_external_parameters(model)

    @staticmethod
    def _register_external_parameters(model: nn.Module) -> None:
        """ZeRO-3 gathers a module's parameters only around its own forward. Walrus reads the
        unused 2-D/3-D encoder pair's parameters from the root's forward (to keep them in the graph
        on every rank), so those are made external parameters of the root: gathered for its
        whole forward and backward."""
        import deepspeed

        for name in ("embed", "debed"):
            for p in getattr(model, name).parameters() if hasattr(model, name) else ():
                deepspeed.zero.register_external_parameter(model, p)

    @property
    def accumulation_steps(self) -> int:
        return int(self.module.gradient_accumulation_steps())

    def backward(self, loss: torch.Tensor) -> None:
        """The plain (undivided) micro-batch loss: DeepSpeed scales it by 1 / accumulation steps."""
        self.module.backward(loss)

    def step(self) -> float:
        """Called after every micro-batch; the gradient norm at an accumulation boundary (the
        optimizer stepped), NaN in between."""
        boundary = self.module.is_gradient_accumulation_boundary()
        self.module.step()
        if not boundary:
            return float("nan")
        norm = self.module.get_global_grad_norm()
        return float(norm) if norm is not None else float("nan")

    # ------------------------------------------------------------------ state
    def save_state(self, directory, client_state: dict | None = None) -> None:
        """DeepSpeed's checkpoint into `directory` (tag "state"); collective, every rank writes its shards."""
        if self.module.micro_steps % self.accumulation_steps:
            raise RuntimeError("a DeepSpeed checkpoint inside a gradient-accumulation cycle would lose "
                               "the gradients accumulated so far")
        self.module.save_checkpoint(str(directory), tag="state", client_state=client_state or {})

    def load_state(self, directory) -> dict:
        """Restore weights, optimizer state (every rank its partition) and step counters; returns
        the client state. Raises FileNotFoundError when `directory` holds no DeepSpeed checkpoint."""
        load_path, client_state = self.module.load_checkpoint(str(directory), tag="state")
        if load_path is None:
            raise FileNotFoundError(f"{directory}: no DeepSpeed checkpoint (tag 'state')")
        # Checkpoints are written at accumulation boundaries: continue counting micro-steps from there.
        self.module.micro_steps = self.module.global_steps * self.accumulation_steps
        return client_state or {}

    def full_state(self) -> dict[str, torch.Tensor] | None:
        """The unsharded fp32 weights on CPU on rank 0, None elsewhere (collective under every stage).
        Trainable parameters come from the optimizer's fp32 master copy (so a bf16 run exports its
        full-precision weights); frozen ones and buffers from the module."""
        from deepspeed.utils import safe_get_full_fp32_param

        rank0 = not dist.is_initialized() or dist.get_rank() == 0
        if self.zero_stage == 3:
            state = self.module._zero3_consolidated_16bit_state_dict()
        else:
            state = {k: v.detach().cpu() for k, v in self.raw.state_dict().items()}
        for name, param in self.raw.named_parameters():
            full = safe_get_full_fp32_param(param) if param.requires_grad else None
            if full is not None and rank0:
                state[name] = full.detach().float().cpu().clone()
        return state if rank0 else None
