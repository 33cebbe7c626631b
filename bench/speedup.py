"""Speed of today's network against an earlier commit's, on the same weights and inputs, in one run.

Each case (preset, spatial shape, pass) runs in fresh subprocesses, once on the baseline's `walrus`
package (extracted with `git archive` from BASELINE_REV or --baseline) and once on the working
tree's, alternating, with the same thread count. The passes are the forward over every step, the
inference of the newest step (what a rollout reads) and the forward+backward. The baseline process
writes its weights, outputs and gradients; the current one loads those weights strictly and reports
how far its outputs and gradients sit from the baseline's (max |difference| / RMS), so the speed-up
is recorded next to the evidence that the result is the same. Each case's FLOPs (products,
convolutions and attention) over the machine's measured float32 matmul rate give the time no
implementation of the same arithmetic can beat, so every ratio sits beside its ceiling.

    python bench/speedup.py --threads 2 --out bench/results/speedup_cpu.json
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from _progress import add_quiet, cases as progress, say
from _docs_block import replace_block

RESULTS = Path(__file__).parent / "results"
ROOT = Path(__file__).resolve().parents[1]
#: The network before the speed work (issue 12): the golden fixtures were written from it.
BASELINE_REV = "8a8f741"
#: Calls longer than this (walrus-small in 3-D) are timed once, on their warm-up call, to keep the
#: run near ten minutes on 2 cores; their one-time set-up costs are well under 1% of them.
LONG_CALL_SECONDS = 10.0
#: fwd: every step's output without gradients; infer: the newest step's only, as inference reads it
#: (`newest_only` where the network has it, else the full pass's last step); fwd+bwd: training's pass.
MODES = ("fwd", "infer", "fwd+bwd")
DEFAULT_CASES = ("walrus-tiny:128x128", "walrus-tiny:16x16x16", "walrus-tiny:64x64x64",
                 "walrus-small:128x128", "walrus-small:16x16x16", "walrus-small:64x64x64")


def run_one(preset: str, shape: tuple[int, ...], mode: str, history: int, repeat: int, warmup: int,
            exchange: Path, role: str) -> dict:
    """Inside a subprocess: build the model, time `repeat` calls after `warmup`, dump or compare results."""
    import torch

    import walrus

    torch.manual_seed(0)
    model = walrus.get_model(preset)
    weights = exchange / "weights.pt"
    if role == "current":
        model.load_state_dict(torch.load(weights), strict=True)
    model.train(mode == "fwd+bwd")
    x = torch.randn(history, 1, 4, *shape, generator=torch.Generator().manual_seed(1))
    fields, bcs = torch.tensor([3, 4, 5, 28]), [[0, 0]] * (len(shape) - 1) + [[2, 2]]

    newest_only = "newest_only" in inspect.signature(model.forward).parameters

    def call() -> dict:
        gen = torch.Generator().manual_seed(0)
        if mode == "fwd":
            with torch.no_grad():
                return {"out": model(x, fields, bcs, generator=gen, check_inputs=False)}
        if mode == "infer":  # the newest step's prediction: a network without `newest_only` computes all steps
            with torch.no_grad():
                if newest_only:
                    return {"out": model(x, fields, bcs, generator=gen, check_inputs=False, newest_only=True)}
                return {"out": model(x, fields, bcs, generator=gen, check_inputs=False)[-1:]}
        xg = x.clone().requires_grad_(True)
        out = model(xg, fields, bcs, generator=gen, check_inputs=False)
        (out * torch.linspace(-1, 1, out.numel()).view(out.shape)).sum().backward()
        grads = {"out": out.detach(), "grad_x": xg.grad}
        grads.update({f"grad/{n}": p.grad for n, p in model.named_parameters() if p.grad is not None})
        model.zero_grad(set_to_none=True)
        return grads

    first = None
    for _ in range(warmup):
        start = time.perf_counter()
        result = call()
        first = time.perf_counter() - start if first is None else first
    times = []
    if first is not None and first > LONG_CALL_SECONDS:
        times = [first]  # one-time set-up is a negligible part of a call this long: timed once
    for _ in range(repeat - len(times)):
        start = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - start)
    row = dict(seconds=times, seconds_median=statistics.median(times), source=str(Path(walrus.__file__).parent))
    if role == "current":
        row["flops"] = count_flops(call)
    if role == "baseline":
        torch.save(model.state_dict(), weights)
        torch.save(result, exchange / f"{mode}.pt")
    else:
        reference = torch.load(exchange / f"{mode}.pt")
        if sorted(reference) != sorted(result):
            row["max_rel_diff"] = float("inf")
            row["mismatch"] = sorted(set(reference) ^ set(result))
        else:
            # max |difference| / RMS per tensor; gradients that are zero up to round-off (e.g. of
            # the key LayerNorm bias, which a softmax ignores) are scaled by the largest RMS instead
            rms = {k: reference[k].double().pow(2).mean().sqrt().item() for k in reference}
            floor = 1e-6 * max(rms.values())
            diffs = {k: ((result[k].double() - reference[k].double()).abs().max().item()) / max(rms[k], floor)
                     for k in reference}
            row["max_rel_diff"] = max(diffs.values())
            row["worst_tensor"] = max(diffs, key=diffs.get)
    return row


def import_walrus_from(src: Path) -> None:
    """Make `import walrus` load the package under `src`: an editable install's finder would
    otherwise win over PYTHONPATH and every role would run the working tree."""
    import importlib.machinery

    class WalrusFrom:
        @staticmethod
        def find_spec(name, path=None, target=None):
            if name == "walrus":
                return importlib.machinery.PathFinder.find_spec(name, [str(src)])
            if name.startswith("walrus."):
                return importlib.machinery.PathFinder.find_spec(name, path)
            return None

    sys.meta_path.insert(0, WalrusFrom())


def count_flops(call) -> float:
    """Floating-point operations of one call: torch's counter (matrix products and convolutions)
    plus the CPU flash attention, which it does not count (forward 4*N*H*Lq*Lk*D; backward as torch
    counts it for the other attention kernels)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

    aten = torch.ops.aten

    def forward(query, key, value, *args, out_shape=None, **kwargs):
        return sdpa_flop_count(query, key, value)

    def backward(grad_out, query, key, value, *args, out_shape=None, **kwargs):
        return sdpa_backward_flop_count(grad_out, query, key, value)

    mapping = {aten._scaled_dot_product_flash_attention_for_cpu: forward,
               aten._scaled_dot_product_flash_attention_for_cpu_backward: backward}
    counter = FlopCounterMode(display=False, custom_mapping=mapping)
    with counter:
        call()
    return float(counter.get_total_flops())


def matmul_peak_gflops(threads: int) -> float:
    """The best float32 matrix-product rate of this machine at `threads` (2048^3, best of 5): the
    ceiling for a network whose work is nearly all products."""
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    a @ b
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * 2048 ** 3 / best / 1e9


def extract_baseline(rev: str, into: Path) -> Path:
    """The baseline's `walrus` package, unpacked from git (no checkout of the working tree)."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "walrus"], check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def spawn(role: str, src: Path, case: str, mode: str, args, exchange: Path) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    cmd = [sys.executable, __file__, "--one", f"{case},{mode},{role}", "--src", str(src), "--history", str(args.history),
           "--repeat", str(args.repeat), "--warmup", str(args.warmup), "--exchange", str(exchange)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{role} {case} {mode} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


DOCS_BEGIN, DOCS_END = "<!-- speedup-table:begin -->", "<!-- speedup-table:end -->"


def docs_table(record: dict) -> str:
    """The run as a Markdown table (median seconds, ratio, its ceiling, the largest difference)."""
    lines = [f"<!-- written by: {record['command']} -->", "",
             f"Baseline `{record['baseline']}`, now `{record['current']}`; {record['machine']['threads']} threads, "
             f"float32 matmul peak {record['matmul_peak_gflops']:.0f} GFLOP/s; input 6 frames x 4 fields, batch 1, "
             "wall boundaries.", "",
             "| preset | grid | pass | baseline | now | speed-up | ceiling | GFLOP | max \\|diff\\|/RMS |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in record["results"]:
        base, now = statistics.median(row["baseline_seconds"]), statistics.median(row["current_seconds"])
        lines.append(f"| {row['preset']} | {'x'.join(map(str, row['shape']))} | {row['mode']} | {base:.3g} s | "
                     f"{now:.3g} s | {row['speedup']:.2f}x | {row['ceiling_speedup']:.2f}x | {row['gflop']:.0f} | "
                     f"{row['max_rel_diff']:.1e} |")
    return "\n".join(lines) + "\n"


def write_docs_table(record: dict, path: Path) -> None:
    replace_block(path, DOCS_BEGIN, DOCS_END, docs_table(record))


def parse_case(case: str) -> tuple[str, tuple[int, ...]]:
    preset, shape = case.split(":")
    return preset, tuple(int(n) for n in shape.split("x"))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", default=BASELINE_REV, help="git revision of the reference network")
    parser.add_argument("--cases", nargs="+", default=list(DEFAULT_CASES), help="PRESET:HxW[xD]")
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--history", type=int, default=6)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS / "speedup_cpu.json")
    parser.add_argument("--docs", type=Path, help="a Markdown page whose speedup-table markers get the table")
    parser.add_argument("--docs-from", type=Path, help="only rewrite --docs from this results JSON")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--exchange", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--src", type=Path, help=argparse.SUPPRESS)
    add_quiet(parser)
    args = parser.parse_args(argv)

    if args.one:
        case, mode, role = args.one.rsplit(",", 2)
        preset, shape = parse_case(case)
        import_walrus_from(args.src)
        print(json.dumps(run_one(preset, shape, mode, args.history, args.repeat, args.warmup, args.exchange, role)))
        return {}

    if args.docs_from:
        write_docs_table(json.loads(args.docs_from.read_text()), args.docs)
        return {}

    import torch

    peak = matmul_peak_gflops(args.threads)
    say(f"float32 matmul peak at {args.threads} threads: {peak:.1f} GFLOP/s")
    rows = []
    with tempfile.TemporaryDirectory(prefix="walrus-speedup-") as tmp:
        baseline_src = extract_baseline(args.baseline, Path(tmp))
        jobs = [(case, mode) for case in args.cases for mode in args.modes]
        for case, mode in progress(jobs, desc="speedup", quiet=args.quiet):
            exchange = Path(tmp) / "exchange"
            exchange.mkdir(exist_ok=True)
            base = spawn("baseline", baseline_src, case, mode, args, exchange)
            cur = spawn("current", ROOT, case, mode, args, exchange)
            if base["source"] == cur["source"]:
                raise RuntimeError(f"baseline and current both imported walrus from {cur['source']}")
            preset, shape = parse_case(case)
            bound = cur["flops"] / (peak * 1e9)
            row = dict(preset=preset, shape=list(shape), mode=mode, baseline_seconds=base["seconds"],
                       current_seconds=cur["seconds"], speedup=base["seconds_median"] / cur["seconds_median"],
                       max_rel_diff=cur["max_rel_diff"], worst_tensor=cur.get("worst_tensor"),
                       gflop=cur["flops"] / 1e9, gflops_baseline=cur["flops"] / 1e9 / base["seconds_median"],
                       gflops_current=cur["flops"] / 1e9 / cur["seconds_median"],
                       ceiling_speedup=base["seconds_median"] / bound)
            rows.append(row)
            say(f"{case:<22} {mode:<8} baseline {base['seconds_median']:8.3f} s  now {cur['seconds_median']:8.3f} s  "
                f"x{row['speedup']:.2f} (ceiling x{row['ceiling_speedup']:.2f})  max |diff|/rms {row['max_rel_diff']:.1e}")
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    record = dict(benchmark="speedup", date=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                  command=" ".join(["python", "bench/speedup.py", *(argv if argv is not None else sys.argv[1:])]),
                  baseline=args.baseline, current=head.stdout.strip(),
                  machine=dict(platform=platform.platform(), cpu_count=os.cpu_count(), threads=args.threads,
                               python=platform.python_version(), torch=torch.__version__),
                  history=args.history, batch=1, repeat=args.repeat, warmup=args.warmup,
                  long_call_seconds=LONG_CALL_SECONDS, matmul_peak_gflops=peak,
                  ceiling="ceiling_speedup = baseline seconds / (the case's FLOPs at the matmul peak): the most any "
                          "float32 implementation doing the same arithmetic could gain on this machine",
                  results=rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = args.out.with_suffix(".json.tmp")
    tmp_out.write_text(json.dumps(record, indent=2))
    os.replace(tmp_out, args.out)
    say(f"wrote {args.out}")
    if args.docs:
        write_docs_table(record, args.docs)
    return record


if __name__ == "__main__":
    main()
