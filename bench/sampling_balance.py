"""Topology-aware against naive dataset sampling under FSDP2 on a mixed 2-D/3-D corpus.

With naive sampling the ranks of a shard group draw datasets independently, so in many steps one
rank holds a cheap 2-D batch and waits, at every per-block collective, for a rank holding an
expensive 3-D one. Topology-aware sampling gives every rank of a shard group the same dataset.

    python bench/sampling_balance.py --nproc 2 --steps 16

It first measures the per-sample step cost of a 2-D and of a 3-D micro-batch (one process, the
single engine, a corpus of that one kind), which `bench/sampling_sim.py` extends to 8-1,024 ranks.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from _progress import add_quiet, cases as progress, say  # noqa: E402
from train_throughput import launch  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nproc", type=int, default=2)
    p.add_argument("--steps", type=int, default=16)
    p.add_argument("--preset", default="walrus-tiny")
    p.add_argument("--size-2d", type=int, default=32)
    p.add_argument("--size-3d", type=int, default=32)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--device", default="cpu", help="cpu (gloo); cuda needs one GPU per process")
    p.add_argument("--cost-steps", type=int, default=8, help="steps of each per-kind cost measurement (0: skip)")
    p.add_argument("--out", type=Path, default=HERE / "results" / "sampling_balance_cpu.json")
    add_quiet(p)
    a = p.parse_args()
    rows, costs = [], {}
    bar = progress(desc="sampling_balance", quiet=a.quiet, total=(2 if a.cost_steps else 0) + 2 * a.repeats, unit="run")
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.jsonl"
        for kind, dataset, batch in (("2d", "2d_a", 2), ("3d", "3d_a", 1)) if a.cost_steps else ():
            args = ["--preset", a.preset, "--engine", "single", "--steps", str(a.cost_steps), "--datasets", dataset,
                    "--size-2d", str(a.size_2d), "--size-3d", str(a.size_3d), "--device", a.device,
                    "--data-root", tmp, "--report", str(report)]
            proc = launch(args, "single", a.nproc)  # the threads of one rank of the multi-rank runs
            if proc.returncode != 0:
                raise SystemExit(proc.stderr[-3000:])
            row = json.loads(report.read_text().splitlines()[-1])
            bar.update(1)
            costs[kind] = dict(samples_per_micro_batch=batch, micro_batch_seconds=1 / row["steps_per_s"],
                               sample_seconds=1 / row["samples_per_s_per_rank"])
            say(f"{kind}: {costs[kind]['micro_batch_seconds']:.3f} s per micro-batch of {batch}, "
                f"{costs[kind]['sample_seconds']:.3f} s per sample")
        if costs:
            costs["sample_cost_ratio_3d_over_2d"] = costs["3d"]["sample_seconds"] / costs["2d"]["sample_seconds"]
            costs["micro_batch_cost_ratio_3d_over_2d"] = (costs["3d"]["micro_batch_seconds"]
                                                          / costs["2d"]["micro_batch_seconds"])
        for repeat in range(a.repeats):
            for sampling in ("naive", "topology"):
                args = ["--preset", a.preset, "--engine", "fsdp", "--sampling", sampling, "--mesh", f"1,{a.nproc}",
                        "--steps", str(a.steps), "--datasets", "2d_a,2d_b,3d_a", "--size-2d", str(a.size_2d),
                        "--size-3d", str(a.size_3d), "--device", a.device, "--data-root", tmp, "--report", str(report)]
                proc = launch(args, "fsdp", a.nproc)
                if proc.returncode != 0:
                    raise SystemExit(proc.stderr[-3000:])
                row = dict(json.loads(report.read_text().splitlines()[-1]), repeat=repeat)
                rows.append(row)
                bar.update(1)
                say(f"{sampling:<9} {row['steps_per_s']:.3f} steps/s  {row['samples_per_s_total']:.2f} samples/s")
    bar.close()
    best = {s: max(r["samples_per_s_total"] for r in rows if r["sampling"] == s) for s in ("naive", "topology")}
    import torch

    payload = dict(benchmark="sampling_balance", date=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                   command=" ".join([Path(sys.executable).name, *sys.argv]),
                   machine=dict(torch=torch.__version__, cpu_count=os.cpu_count()),
                   corpus=f"3 datasets (two 2-D {a.size_2d}^2, one 3-D {a.size_3d}^3), FSDP2 mesh 1x{a.nproc}, gloo",
                   oversubscribed=a.nproc > (os.cpu_count() or 1), per_kind_costs=costs,
                   best_samples_per_s=best, topology_speedup=best["topology"] / best["naive"], results=rows)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = a.out.with_suffix(".json.tmp")
    tmp_out.write_text(json.dumps(payload, indent=2))
    os.replace(tmp_out, a.out)
    print(f"topology-aware / naive = {payload['topology_speedup']:.2f}x; wrote {a.out}")


if __name__ == "__main__":
    main()
