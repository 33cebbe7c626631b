"""Forward and forward+backward throughput (tokens/s) and peak memory per preset and dtype.

Each configuration runs in its own subprocess so that peak memory (CUDA allocator peak on GPU,
peak RSS on CPU) belongs to that configuration alone.

    python bench/model_throughput.py --device cpu --presets walrus-tiny walrus-small
    python bench/model_throughput.py --device cuda --presets walrus-tiny walrus-small walrus-half walrus-1.3b
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from datetime import datetime, timezone
from itertools import product
from pathlib import Path

from _progress import add_quiet, cases as progress, say

RESULTS = Path(__file__).parent / "results"


def measure(preset: str, device: str, dtype: str, mode: str, shape: list[int], history: int, batch: int,
            repeat: int, warmup: int) -> dict:
    import torch

    import walrus

    torch.manual_seed(0)
    model = walrus.get_model(preset, device=device)
    model.train(mode == "fwd+bwd")
    spatial = tuple(shape)
    bcs = [[0, 0]] * len(spatial)
    x = torch.randn(history, batch, 4, *spatial, device=device)
    fields = torch.tensor([3, 4, 5, 28], device=device)
    plans = model.plan(spatial + (1,) * (3 - len(spatial)), bcs + [[2, 2]] * (3 - len(spatial)))
    tokens = history * batch * int(torch.tensor([p.n_tokens for p in plans]).prod())
    autocast = torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16, enabled=dtype == "bf16")
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)

    def step():
        gen = torch.Generator().manual_seed(0)
        if mode == "fwd":
            with torch.no_grad(), autocast:
                model(x, fields, bcs, generator=gen, check_inputs=False)
        else:
            with autocast:
                y = model(x, fields, bcs, generator=gen, check_inputs=False)
            y.float().square().mean().backward()
            model.zero_grad(set_to_none=True)

    for _ in range(warmup):
        step()
    sync()
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - start)
    best = min(times)
    result = dict(preset=preset, device=device, dtype=dtype, mode=mode, input_shape=[history, batch, 4, *spatial],
                  tokens=tokens, seconds_best=best, seconds_median=sorted(times)[len(times) // 2],
                  tokens_per_s=tokens / best, parameters=sum(p.numel() for p in model.parameters()),
                  activation_checkpointing=model.config.gradient_checkpointing_freq > 0 and mode == "fwd+bwd")
    if device.startswith("cuda"):
        result["peak_memory_gib"] = torch.cuda.max_memory_allocated() / 2 ** 30
    else:
        result["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
    return result


def machine(device: str) -> dict:
    import torch

    info = dict(python=platform.python_version(), torch=torch.__version__, cpu=platform.processor() or platform.machine(),
                cpu_count=os.cpu_count(), threads=torch.get_num_threads())
    if device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--presets", nargs="+", default=["walrus-tiny", "walrus-small"])
    parser.add_argument("--dtypes", nargs="+", default=["fp32", "bf16"])
    parser.add_argument("--modes", nargs="+", default=["fwd", "fwd+bwd"])
    parser.add_argument("--shape", nargs="+", type=int, default=[128, 128], help="spatial shape (2-D or 3-D)")
    parser.add_argument("--history", type=int, default=6)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None)
    add_quiet(parser)
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one configuration, print JSON
    args = parser.parse_args()

    if args.one:
        preset, dtype, mode = args.one.split(",")
        print(json.dumps(measure(preset, args.device, dtype, mode, args.shape, args.history, args.batch,
                                 args.repeat, args.warmup)))
        return

    results = []
    cases = list(product(args.presets, args.dtypes, args.modes))
    for preset, dtype, mode in progress(cases, desc="model_throughput", quiet=args.quiet):
        cmd = [sys.executable, __file__, "--one", f"{preset},{dtype},{mode}", "--device", args.device,
               "--shape", *map(str, args.shape), "--history", str(args.history), "--batch", str(args.batch),
               "--repeat", str(args.repeat), "--warmup", str(args.warmup)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            row = dict(preset=preset, device=args.device, dtype=dtype, mode=mode,
                       error=proc.stderr.strip().splitlines()[-1] if proc.stderr else "failed")
        else:
            row = json.loads(proc.stdout.strip().splitlines()[-1])
        results.append(row)
        mem = row.get("peak_memory_gib", row.get("peak_rss_gib"))
        say(f"{preset:<13} {dtype:<5} {mode:<8} " + (
            f"{row['tokens_per_s']:>12,.0f} tokens/s  {row['seconds_best'] * 1e3:>9.1f} ms  peak {mem:.2f} GiB"
            if "error" not in row else f"ERROR {row['error']}"))
    out = args.out or RESULTS / f"model_throughput_{args.device.split(':')[0]}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = dict(benchmark="model_throughput", date=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                   command=" ".join([Path(sys.executable).name, *sys.argv]), machine=machine(args.device),
                   results=results)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2))
    os.replace(tmp, out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
