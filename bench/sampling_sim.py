"""Naive against topology-aware dataset sampling at 8-1,024 ranks: a lock-step simulation driven by
measured per-micro-batch costs (bench/sampling_balance.py measures them on this machine).

The model of an HSDP step (mesh = replicas x shard groups of G ranks):
- each rank draws a dataset per micro-batch, uniformly over the corpus (naive: every rank on its
  own; topology-aware: one draw per shard group, shared by its G ranks);
- the ranks of a shard group run every micro-batch in lock-step (per-block all-gathers and
  reduce-scatters), so the group's micro-batch takes as long as its slowest rank's;
- gradients are reduced across the replicas (all ranks) either once per optimizer step, after
  `grad_accumulation` micro-batches (no_sync accumulation), or after every micro-batch (`--sync
  every`), so the step waits for the slowest group.
Throughput is samples per second over all ranks (2-D micro-batches hold 2 samples, 3-D ones 1).
Communication time is left out: it is the same for both samplers.

    python bench/sampling_sim.py --costs bench/results/sampling_balance_cpu2.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from _progress import add_quiet, cases as progress, say  # noqa: E402


def simulate(costs: np.ndarray, samples: np.ndarray, ranks: int, group: int, mode: str, accumulation: int,
             sync_every_micro_batch: bool, steps: int, rng: np.random.Generator) -> float:
    """Samples per second (all ranks) of `steps` optimizer steps. mode: naive (a draw per rank),
    topology (a draw per shard group), global (one draw per micro-batch shared by every rank)."""
    groups = ranks // group
    shape = {"naive": (steps, accumulation, groups, group), "topology": (steps, accumulation, groups, 1),
             "global": (steps, accumulation, 1, 1)}[mode]
    draws = np.broadcast_to(rng.integers(0, len(costs), shape), (steps, accumulation, groups, group))
    group_time = costs[draws].max(axis=3)                 # (steps, micro, groups): lock-step in a group
    if sync_every_micro_batch:
        step_time = group_time.max(axis=2).sum(axis=1)    # every micro-batch waits for the slowest group
    else:
        step_time = group_time.sum(axis=1).max(axis=1)    # the optimizer step waits for the slowest group
    return float(samples[draws].sum() / step_time.sum())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--costs", type=Path, default=HERE / "results" / "sampling_balance_cpu2.json",
                   help="a sampling_balance JSON with per_kind_costs")
    p.add_argument("--corpus", default="2d,2d,3d",
                   help="the datasets' kinds (uniform choice over them); default: sampling_balance's corpus")
    p.add_argument("--ranks", type=int, nargs="+", default=[8, 16, 32, 64, 96, 128, 256, 512, 1024])
    p.add_argument("--groups", type=int, nargs="+", default=[4, 8, 16])
    p.add_argument("--grad-accumulation", type=int, default=4, help="the release's 4")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--ratios", type=float, nargs="+", default=[1, 2, 4, 8, 16, 32, 64],
                   help="3-D/2-D micro-batch cost ratios of the sensitivity sweep (96 ranks)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=HERE / "results" / "sampling_sim.json")
    p.add_argument("--plot", type=Path, default=HERE.parent / "docs" / "sampling_sim.png")
    add_quiet(p)
    a = p.parse_args()
    measured = json.loads(a.costs.read_text())["per_kind_costs"]
    kinds = a.corpus.split(",")
    costs = np.array([measured[k]["micro_batch_seconds"] for k in kinds])
    samples = np.array([measured[k]["samples_per_micro_batch"] for k in kinds], dtype=float)
    rng = np.random.default_rng(a.seed)

    def speedup(cost, ranks, group, sync_every):
        return [simulate(cost, samples, ranks, group, mode, a.grad_accumulation, sync_every, a.steps, rng)
                for mode in ("naive", "topology", "global")]

    rows = []
    grid = [(s, g, r) for s in (False, True) for g in a.groups for r in a.ranks if r % g == 0]
    for sync_every, group, ranks in progress(grid, desc="sampling_sim", quiet=a.quiet):
        naive, topo, glob = speedup(costs, ranks, group, sync_every)
        rows.append(dict(ranks=ranks, group=group, replicas=ranks // group,
                         sync="every micro-batch" if sync_every else "per optimizer step",
                         naive_samples_per_s=naive, topology_samples_per_s=topo, global_samples_per_s=glob,
                         speedup=topo / naive, global_speedup=glob / naive))
        say(f"sync {'every' if sync_every else 'step '} G={group:<3} N={ranks:<5} "
            f"topology/naive = {topo / naive:.2f}x  global/naive = {glob / naive:.2f}x")
    # one shard group (pure FSDP over all ranks, or a replica on its own): the ceiling of the gain
    single = []
    for ranks in [r for r in a.ranks if r <= 64]:
        naive, topo, _ = speedup(costs, ranks, ranks, False)
        single.append(dict(ranks=ranks, group=ranks, replicas=1, speedup=topo / naive))
    sweep = []
    base2 = measured["2d"]["micro_batch_seconds"]
    for ratio in a.ratios:
        cost = np.array([base2 if k == "2d" else base2 * ratio for k in kinds])
        for group, ranks in ((4, 96), (16, 16)):
            naive, topo, glob = speedup(cost, ranks, group, False)
            sweep.append(dict(micro_batch_cost_ratio=ratio, ranks=ranks, group=group, speedup=topo / naive,
                              global_speedup=glob / naive))
    p3 = kinds.count("3d") / len(kinds)
    payload = dict(
        benchmark="sampling_sim", date=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        command=" ".join([Path(sys.executable).name, *sys.argv]),
        costs_from=str(a.costs), corpus=kinds, grad_accumulation=a.grad_accumulation, steps=a.steps,
        micro_batch_seconds={k: measured[k]["micro_batch_seconds"] for k in ("2d", "3d")},
        micro_batch_cost_ratio=measured["3d"]["micro_batch_seconds"] / measured["2d"]["micro_batch_seconds"],
        ceiling_note=(f"with one shard group and many ranks naive waits for a 3-D micro-batch almost every time "
                      f"while topology-aware pays the mean cost: speedup -> c3 / ((1-p3) c2 + p3 c3) < 1/p3 = "
                      f"{1 / p3:.2f}x (p3 = {p3:.2f}, the 3-D share of draws)"),
        paper_claim="+262% throughput (3.62x) from load-balanced 2-D/3-D training",
        results=rows, single_group=single, ratio_sweep=sweep)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(payload, indent=2))
    print(f"wrote {a.out}")
    if a.plot:
        plot(payload, a.plot)
        print(f"wrote {a.plot}")


def plot(payload: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.2))
    for sync, style in (("per optimizer step", "-"), ("every micro-batch", ":")):
        for group in sorted({r["group"] for r in payload["results"]}):
            rows = [r for r in payload["results"] if r["group"] == group and r["sync"] == sync]
            ax.plot([r["ranks"] for r in rows], [r["speedup"] for r in rows], style, marker="o", ms=3,
                    label=f"shard group {group}, grad sync {sync}")
    one = payload["single_group"]
    ax.plot([r["ranks"] for r in one], [r["speedup"] for r in one], "k--", marker="s", ms=3,
            label="one shard group (no replicas)")
    rows = [r for r in payload["results"] if r["group"] == 4 and r["sync"] == "per optimizer step"]
    ax.plot([r["ranks"] for r in rows], [r["global_speedup"] for r in rows], "-.", color="tab:cyan", marker="^", ms=4,
            label="one draw shared by all ranks (any group)")
    ax.axhline(3.62, color="r", lw=0.8)
    ax.text(8, 3.5, "paper: +262% (3.62x)", color="r", fontsize=8, va="top")
    ax.axhline(2.0, color="gray", lw=0.8)
    ax.set(xscale="log", xlabel="ranks", ylabel="topology-aware / naive samples/s",
           title=f"measured costs (3-D/2-D micro-batch {payload['micro_batch_cost_ratio']:.1f}x)", ylim=(0.9, 4))
    ax.legend(fontsize=7)
    for group, ranks in sorted({(r["group"], r["ranks"]) for r in payload["ratio_sweep"]}):
        rows = [r for r in payload["ratio_sweep"] if r["group"] == group and r["ranks"] == ranks]
        bx.plot([r["micro_batch_cost_ratio"] for r in rows], [r["speedup"] for r in rows], marker="o", ms=3,
                label=f"{ranks} ranks, shard group {group}")
        if group == 4:
            bx.plot([r["micro_batch_cost_ratio"] for r in rows], [r["global_speedup"] for r in rows], "-.", color="tab:cyan",
                    marker="^", ms=3, label=f"{ranks} ranks, one draw shared by all")
    bx.axhline(3.62, color="r", lw=0.8)
    bx.axhline(2.0, color="gray", lw=0.8)
    bx.set(xscale="log", xlabel="3-D / 2-D micro-batch cost", ylabel="speedup", ylim=(0.9, 4),
           title="sensitivity to the cost ratio (grad sync per step)")
    bx.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
