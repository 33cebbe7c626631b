"""Shared by the training benchmarks: train N steps on a synthetic mixed corpus and report speed.

Run directly (one process) or under torchrun/deepspeed; rank 0 appends one JSON line to --report.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "train"))

from wave_datasets import travelling_wave_dataset  # noqa: E402
from walrus.train import TrainConfig  # noqa: E402
from walrus.train.trainer import Trainer  # noqa: E402


def corpus(root: Path, kinds: list[str], size_2d: int, size_3d: int) -> list[dict]:
    out = []
    for kind in kinds:
        path = root / kind
        if not (path / "stats.yaml").exists() and int(os.environ.get("RANK", "0")) == 0:
            n_dims = 3 if kind.startswith("3d") else 2
            travelling_wave_dataset(path, n_dims=n_dims, size=size_3d if n_dims == 3 else size_2d, n_steps=12,
                                    n_traj=4, name=kind, seed=len(out))
        out.append({"name": kind, "path": str(path)})
    if dist.is_available() and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        while not all((Path(d["path"]) / "stats.yaml").exists() for d in out):
            time.sleep(0.1)
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--preset", default="walrus-tiny")
    p.add_argument("--engine", default="single")
    p.add_argument("--sampling", default="topology")
    p.add_argument("--mesh", default=None)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--datasets", default="2d_a,3d_a")
    p.add_argument("--size-2d", type=int, default=64)
    p.add_argument("--size-3d", type=int, default=32)
    p.add_argument("--mixed-precision", default=None)
    p.add_argument("--device", default="auto")
    p.add_argument("--num-workers", type=int, default=0, help="input-pipeline workers (0: synchronous)")
    p.add_argument("--prefetch-factor", type=int, default=2)
    p.add_argument("--data-root", type=Path, required=True)
    p.add_argument("--report", type=Path, required=True)
    a = p.parse_args()
    data = corpus(a.data_root, a.datasets.split(","), a.size_2d, a.size_3d)
    run_dir = a.data_root / f"run_{a.preset}_{a.engine}_{a.sampling}_{os.getpid() if 'RANK' not in os.environ else 'dist'}"
    cfg = TrainConfig(datasets=data, out_dir=str(run_dir), preset=a.preset, engine=a.engine, sampling=a.sampling,
                      mesh=[int(v) for v in a.mesh.split(",")] if a.mesh else None, epochs=1,
                      steps_per_epoch=a.steps + a.warmup, max_steps=a.steps + a.warmup, checkpoint_every=10 ** 9,
                      validate_every=0, progress=False, warmup_epochs=0, cooldown_epochs=0, device=a.device,
                      mixed_precision=a.mixed_precision, history_3d=3, max_dt_stride=1,
                      num_workers=a.num_workers, prefetch_factor=a.prefetch_factor)
    trainer = Trainer(cfg)
    losses, marks = [], []
    original = trainer.engine.step

    def timed_step():
        norm = original()
        if trainer.device.type == "cuda":
            torch.cuda.synchronize()
        marks.append(time.perf_counter())
        return norm

    trainer.engine.step = timed_step
    waits = []  # (end time, seconds) of every wait for a micro-batch: building it (0 workers) or its arrival
    fetch = trainer.micro_batch

    def timed_micro_batch(draw):
        t0 = time.perf_counter()
        batch = fetch(draw)
        if trainer.device.type == "cuda":
            torch.cuda.synchronize()
        t1 = time.perf_counter()
        waits.append((t1, t1 - t0))
        return batch

    trainer.micro_batch = timed_micro_batch
    if trainer.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    trainer.fit()
    seconds = marks[-1] - marks[a.warmup - 1] if a.warmup else marks[-1] - marks[0]
    since = marks[a.warmup - 1] if a.warmup else marks[0]
    data_seconds = sum(s for t, s in waits if t > since)
    samples = 0
    for line in trainer.log_path.read_text().splitlines()[-a.steps:]:
        rec = json.loads(line)
        samples += cfg.batch_size_3d if rec["dataset"].startswith("3d") else cfg.batch_size_2d
    world = trainer.info.world_size
    row = dict(preset=a.preset, engine=a.engine, sampling=a.sampling, mesh=a.mesh, world_size=world,
               device=str(trainer.device.type), mixed_precision=a.mixed_precision, steps=a.steps,
               steps_per_s=a.steps / seconds, samples_per_s_per_rank=samples / seconds,
               samples_per_s_total=samples / seconds * world,
               num_workers=a.num_workers, prefetch_factor=a.prefetch_factor if a.num_workers else None,
               data_wait_fraction=data_seconds / seconds, data_wait_ms_per_step=1e3 * data_seconds / a.steps,
               parameters=sum(p.numel() for p in trainer.model.parameters()) if a.engine == "single" else None)
    if trainer.device.type == "cuda":
        row["peak_memory_gib"] = torch.cuda.max_memory_allocated() / 2 ** 30
    else:
        row["peak_rss_gib_rank0"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
    trainer.close()
    if trainer.info.is_main:
        with open(a.report, "a") as f:
            f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
