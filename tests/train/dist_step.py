"""Run under torchrun: one optimizer step of walrus-tiny, sharded with FSDP2 on a (replicate, shard)
mesh, each rank on its own micro-batch; rank 0 writes the full parameters after the step.

Usage: torchrun --standalone --nproc_per_node N dist_step.py OUT.pt REPLICATE SHARD
       python dist_step.py OUT.pt 0 0 [N]  (reference: one process, all N micro-batches at once; N=2)

Each rank also writes OUT.rank<r>.pt: its local shard of every parameter after the step, with the
DTensor's placements and mesh shape, so tests can check how the parameters are really sharded.
"""

import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist

import walrus
from walrus.model.normalization import normalize_input, rms_stats
from walrus.train.distributed import DistInfo, FSDPEngine, SingleEngine
from walrus.train.loss import delta_l1_loss

N_RANKS = 2


def micro_batch(rank: int):
    gen = torch.Generator().manual_seed(100 + rank)
    x = torch.randn(4, 1, 3, 16, 16, 1, generator=gen)
    future = torch.randn(1, 1, 3, 16, 16, 1, generator=gen)
    return x, future


def make_model():
    torch.manual_seed(0)
    model = walrus.get_model("walrus-tiny")
    with torch.no_grad():  # ordinary-scale weights so every block matters
        for name, p in model.named_parameters():
            if "norm" not in name and name != "encoder_dummy":
                p.copy_(0.05 * torch.randn(p.shape))
    model.deterministic = True
    return model


def loss_of(module, x, future):
    fields = torch.tensor([4, 5, 28])
    bcs = [[2, 2], [2, 2], [2, 2]]
    stats = rms_stats(x)
    out = module(normalize_input(x, stats), fields, bcs)
    return delta_l1_loss(out, x, future, stats, torch.ones(3, dtype=torch.bool))


def optimizer(params):
    # SGD: the update is linear in the gradient, so equal parameters mean equal reduced gradients.
    # (Adam would amplify float noise in gradients that are zero by symmetry, e.g. the key-norm
    # biases, which softmax's shift invariance leaves without any gradient.)
    return torch.optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=1e-4)


def placement(p) -> str:
    """A DTensor placement as "Replicate" or "Shard(0)" (its str() is terse and changes between versions)."""
    return type(p).__name__ + (f"({p.dim})" if hasattr(p, "dim") else "")


def main(out: Path, replicate: int, shard: int, n_ranks: int = N_RANKS) -> None:
    model = make_model()
    if replicate == 0:  # single-process reference over the union of the ranks' micro-batches
        engine = SingleEngine(model, optimizer, grad_clip=10.0)
        batches = [micro_batch(r) for r in range(n_ranks)]
        loss = sum(loss_of(engine.module, *b) for b in batches) / n_ranks
        engine.backward(loss)
        engine.step()
        torch.save({k: v.detach().clone() for k, v in model.state_dict().items()}, out)
        return
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    info = DistInfo(rank, dist.get_world_size(), rank, replicate, shard)
    model.keep_all_parameters_in_graph = True
    engine = FSDPEngine(model, optimizer, 10.0, info, torch.device("cpu"))
    engine.backward(loss_of(engine.module, *micro_batch(rank)))
    engine.step()
    state = engine.module.state_dict()
    local = {k: dict(local=v.to_local().detach().clone(), placements=[placement(p) for p in v.placements],
                     mesh=list(v.device_mesh.shape), coordinate=list(v.device_mesh.get_coordinate()))
             for k, v in state.items() if hasattr(v, "to_local")}
    torch.save(local, out.with_name(f"{out.stem}.rank{rank}.pt"))
    full = {k: (v.full_tensor() if hasattr(v, "full_tensor") else v).detach().clone() for k, v in state.items()}
    if rank == 0:
        torch.save(full, out)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), *map(int, sys.argv[4:5]))
