"""Training samples/s and peak memory per preset and engine, on a synthetic mixed 2-D/3-D corpus.

    python bench/train_throughput.py --presets walrus-tiny walrus-small --engines single fsdp deepspeed
    python bench/train_throughput.py --device cuda --presets walrus-tiny walrus-small walrus-half walrus-1.3b --engines single
    python bench/train_throughput.py --engines single --num-workers 0 2 --out bench/results/train_pipeline_cpu.json

Every row reports `data_wait_fraction`: the share of step time the loop spent waiting for its
micro-batch (building it itself with --num-workers 0, or waiting for a worker's prefetched one).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from _progress import add_quiet, cases as progress, say  # noqa: E402
WORKER = HERE / "_train_worker.py"


def launch(args: list[str], engine: str, nproc: int) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS=str(max(1, (os.cpu_count() or 2) // max(nproc, 1))), DS_ACCELERATOR="cpu")
    if engine == "single":
        cmd = [sys.executable, str(WORKER), *args]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc),
               str(WORKER), *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--presets", nargs="+", default=["walrus-tiny"])
    p.add_argument("--engines", nargs="+", default=["single", "fsdp", "deepspeed"])
    p.add_argument("--nproc", type=int, default=2)
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--device", default="cpu")
    p.add_argument("--size-2d", type=int, default=64)
    p.add_argument("--size-3d", type=int, default=32)
    p.add_argument("--num-workers", type=int, nargs="+", default=[0],
                   help="input-pipeline worker counts to compare (0: synchronous, the batch built in the loop)")
    p.add_argument("--prefetch-factor", type=int, default=2)
    p.add_argument("--out", type=Path, default=None)
    add_quiet(p)
    a = p.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.jsonl"
        grid = [(p_, e, w) for p_ in a.presets for e in a.engines for w in a.num_workers]
        for preset, engine, workers in progress(grid, desc="train_throughput", quiet=a.quiet, unit="run"):
            args = ["--preset", preset, "--engine", engine, "--steps", str(a.steps), "--device", a.device,
                    "--size-2d", str(a.size_2d), "--size-3d", str(a.size_3d),
                    "--num-workers", str(workers), "--prefetch-factor", str(a.prefetch_factor),
                    "--data-root", tmp, "--report", str(report)]
            before = report.read_text().count("\n") if report.exists() else 0
            proc = launch(args, engine, a.nproc if engine != "single" else 1)
            lines = report.read_text().splitlines() if report.exists() else []
            if proc.returncode != 0 or len(lines) == before:
                row = dict(preset=preset, engine=engine, num_workers=workers, error=(proc.stderr or "failed").strip().splitlines()[-1])
            else:
                row = json.loads(lines[-1])
            rows.append(row)
            say(json.dumps(row))
    import torch

    out = a.out or HERE / "results" / f"train_throughput_{a.device}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = dict(benchmark="train_throughput", date=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                   command=" ".join([Path(sys.executable).name, *sys.argv]),
                   machine=dict(python=platform.python_version(), torch=torch.__version__, cpu_count=os.cpu_count(),
                                gpu=torch.cuda.get_device_name(0) if a.device.startswith("cuda") else None),
                   corpus=f"travelling waves, 2-D {a.size_2d}^2 (batch 2, history 6) + 3-D {a.size_3d}^3 (batch 1, history 3)",
                   results=rows)
    tmp_out = out.with_suffix(".json.tmp")
    tmp_out.write_text(json.dumps(payload, indent=2))
    os.replace(tmp_out, out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
