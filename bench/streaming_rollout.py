"""Streaming against exact rollout on the pretrained model and held-out data: speed and accuracy cost.

Every configuration rolls the same held-out windows (bench/accuracy.py's: HELDOUT_SEED, the
corpus systems' real solvers) forward through `walrus.train.evaluation.rollout`, with the same
jitter seeds, and is scored with VRMSE against the solver's truth:

- exact: the release's inference, every step a full pass over the window (fresh statistics and draws);
- exact-reseeded: exact with other jitter seeds (how much exact mode moves with its own draws:
  the noise floor of any comparison);
- where streaming's error comes from, each an exact-mode rollout with one of streaming's
  simplifications: exact-frozen-scale (the input RMS of the first window kept), exact-frozen-delta
  (the frame-to-frame RMS, the output's scale, of the first window kept), exact-fixed-draws (one
  jitter draw for the whole rollout); the truncated cache is what remains;
- streaming configurations (`walrus.model.streaming.Reanchor`): `none` never re-anchors (statistics
  and draws fixed for the whole rollout, truncated key/value cache); `every=k` re-anchors every k
  steps; `drift=f` when the window's RMS statistics move by more than the fraction f.

Reported per system and configuration: seconds per step (median over rollouts, after an untimed
warm-up of every configuration), the speed-up (median over rollouts of exact's time / the
configuration's on the same rollout; the configurations of a rollout run back to back), VRMSE vs
truth (mean over the rollout steps, windows and seeds, and at the last step) and the relative
cost against exact mode (VRMSE_config / VRMSE_exact - 1, mean over steps).

    OMP_NUM_THREADS=2 python bench/streaming_rollout.py --threads 2 --out bench/results/streaming_rollout_cpu.json

`--split valid` rolls the corpus's validation trajectories instead (training seeds, never trained
on), so a re-anchoring policy can be chosen without touching the held-out seed it is reported on.

`--latency-presets` instead times one step of each mode on a (6, 128, 128) window for untrained
presets (the GPU numbers in docs/model.md; speed only, the accuracy cost is this script's main run).
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _progress import add_quiet, cases as progress, say  # noqa: E402
from _docs_block import replace_block  # noqa: E402
from accuracy import heldout_batches, heldout_root  # noqa: E402

import walrus  # noqa: E402
from walrus.model.normalization import RMSStats, normalize_input, reconstruct, rms_stats  # noqa: E402
from walrus.model.streaming import Reanchor, StreamingRollout, open_stream, stream_step  # noqa: E402
from walrus.train.config import TrainConfig  # noqa: E402
from walrus.train.evaluation import rollout, walrus_predictor  # noqa: E402
from walrus.train.trainer import window_history  # noqa: E402

SYSTEMS = ("acoustics_inclusions_pyclaw", "euler_blast_pyclaw", "gray_scott_pypde", "mhd_orszag_tang_dedalus",
           "oldroyd_b_kolmogorov_dedalus", "shallow_water_pyclaw", "shear_flow_dedalus", "euler_blast_3d_pyclaw",
           "acoustics_inclusions_3d_pyclaw")
EXACT = ("exact", "exact-reseeded", "exact-frozen-scale", "exact-frozen-delta", "exact-fixed-draws")
DEFAULT = "every=10,drift=0.1,min_gap=6"  # walrus.model.streaming.Reanchor()'s, the Surrogate's default
PREVIOUS_DEFAULT = "every=10,drift=0.1,min_gap=4"  # the default until it was re-chosen on the validation split
CONFIGS = (*EXACT, "none", "every=4", "every=5", "drift=0.1", "drift=0.1,min_gap=4", PREVIOUS_DEFAULT, DEFAULT)
DOCS_BEGIN, DOCS_END = "<!-- streaming-table:begin -->", "<!-- streaming-table:end -->"
RESEED = 1000  # exact-reseeded uses jitter seeds RESEED + s instead of s
TARGET_COST, TARGET_SPEEDUP = 0.05, 2.0  # issue 12: <= 5 % VRMSE against exact mode at >= 2x


def parse_config(text: str) -> Reanchor | None:
    """An exact-mode configuration -> None; 'none' or comma-separated 'every=k', 'drift=f', 'min_gap=g'
    -> a Reanchor."""
    if text in EXACT:
        return None
    if text == "none":
        return Reanchor(every=None, drift=None)
    knobs = dict(every=None, drift=None, min_gap=1)
    for part in text.split(","):
        key, _, value = part.partition("=")
        if key not in knobs or not value:
            raise SystemExit(f"--configs: {text!r}: expected one of {', '.join(EXACT)}, none, or comma-separated "
                             "every=K, drift=F, min_gap=G")
        knobs[key] = float(value) if key == "drift" else int(value)
    return Reanchor(**knobs)


def predictor(model, config: str, seed: int):
    """A rollout predictor for one configuration; the streaming one also reports its anchors."""
    policy = parse_config(config)
    if config in ("exact", "exact-reseeded"):
        return walrus_predictor(model, seed=seed + (RESEED if config == "exact-reseeded" else 0)), None
    if policy is None:
        return exact_with(model, config.removeprefix("exact-"), seed), None
    stream = StreamingRollout(model, policy, torch.Generator().manual_seed(seed))
    first = [True]

    def predict(window, batch):
        out = stream.predict(window, batch.field_ids, batch.bcs[0], continues=not first[0])
        first[0] = False
        return out[:, :batch.n_variable]

    return predict, stream


def exact_with(model, simplification: str, seed: int):
    """Exact mode with one of streaming's simplifications: 'frozen-scale', 'frozen-delta' (the first
    window's input RMS or frame-to-frame RMS kept) or 'fixed-draws' (one jitter draw throughout)."""
    gen, first = torch.Generator().manual_seed(seed), {}

    def predict(window, batch):
        now = rms_stats(window, model.config.rms_eps)
        first.setdefault("stats", now)
        if simplification == "fixed-draws":
            first.setdefault("draws", model.draw_for(window.shape, batch.bcs, gen))
        kept = first["stats"]
        stats = dict(scale=RMSStats(kept.scale, now.delta_scale), delta=RMSStats(now.scale, kept.delta_scale))
        stats = stats.get(simplification.removeprefix("frozen-"), now)
        out = model(normalize_input(window, stats), batch.field_ids, batch.bcs, generator=gen, draws=first.get("draws"),
                    newest_only=True)
        return reconstruct(window[-1], out[-1], stats)[:, :batch.n_variable]

    return predict


def run_system(model, configs: list[str], batches, steps: int, seeds: int, bar) -> dict:
    """Every configuration on every (window, seed) rollout, interleaved: the configurations of one
    rollout run back to back, so a change of machine load hits them alike, and each one's speed-up
    is the median over rollouts of exact's time / its time on the same rollout.

    Per configuration: VRMSE curve (mean over windows, seeds and real channels), seconds per step
    (median), speed-up, full passes per rollout."""
    from walrus.metrics import vrmse

    runs = {c: dict(curves=[], seconds=[], anchors=[]) for c in configs}
    with torch.no_grad():
        for config in configs:  # untimed warm-up of every code path
            rollout(predictor(model, config, 0)[0], batches[0], min(steps, 3))
        for batch in batches:
            keep = batch.padded_mask
            truth = batch.future[:steps, :, keep].movedim(2, -1)
            for seed in range(seeds):
                for config in configs:
                    predict, stream = predictor(model, config, seed)
                    start = time.perf_counter()
                    frames = rollout(predict, batch, steps)
                    runs[config]["seconds"].append((time.perf_counter() - start) / steps)
                    runs[config]["curves"].append(vrmse(frames[:, :, keep].movedim(2, -1), truth, 3).mean(1).mean(-1))
                    runs[config]["anchors"].append(stream.anchors if stream is not None else steps)
                bar.update()
    out = {}
    for config, r in runs.items():
        curve = torch.stack(r["curves"]).mean(0)
        ratios = [e / t for e, t in zip(runs["exact"]["seconds"], r["seconds"])]
        out[config] = dict(seconds_per_step=statistics.median(r["seconds"]), speedup=statistics.median(ratios),
                           vrmse_mean=float(curve.mean()), vrmse_last=float(curve[-1]),
                           vrmse_per_step=[float(v) for v in curve],
                           full_passes_per_rollout=float(np.mean(r["anchors"])))
    return out


def step_latency(preset: str, device: str, size: int, history: int, repeat: int = 5) -> dict:
    """Per-step model time of the two modes on a (history, 1, 4, size, size) window, untrained weights:
    exact = one forward over the window; streaming = one frame through the cached network."""
    model = walrus.get_model(preset, device=device).eval()
    x = torch.randn(history, 1, 4, size, size, 1, device=device)
    ids, bcs = torch.tensor([3, 4, 5, 28], device=device), [[2, 2], [0, 0], [2, 2]]
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    draws = model.draw_for(x.shape, [bcs], torch.Generator().manual_seed(0))

    def timed(fn) -> float:
        fn()
        sync()
        best = float("inf")
        for _ in range(repeat):
            t0 = time.perf_counter()
            fn()
            sync()
            best = min(best, time.perf_counter() - t0)
        return best

    with torch.no_grad():
        exact = timed(lambda: model(x, ids, [bcs], draws=draws, check_inputs=False, newest_only=True))
        stream = open_stream(model, x.shape[1:], ids, bcs, max_frames=history, draws=draws)
        for t in range(history):
            stream_step(model, stream, x[t])
        streaming = timed(lambda: stream_step(model, stream, x[-1]))
    return dict(preset=preset, device=device, window=[history, size, size], exact_s=exact, streaming_s=streaming,
                speedup=exact / streaming)


def summarise(results: dict, configs: list[str]) -> dict:
    """Per configuration: relative VRMSE cost against exact (mean and worst over systems) and speed-up
    (geometric mean and minimum over systems of the per-system speed-ups)."""
    out, names = {}, list(results)
    for config in configs:
        rel = [r[config]["vrmse_mean"] / r["exact"]["vrmse_mean"] - 1 for r in results.values()]
        speed = [r[config]["speedup"] for r in results.values()]
        out[config] = dict(relative_vrmse_cost_mean=float(np.mean(rel)), relative_vrmse_cost_worst=float(max(rel)),
                           worst_system=names[int(np.argmax(rel))], speedup_geomean=float(np.exp(np.mean(np.log(speed)))),
                           speedup_min=float(min(speed)),
                           full_passes_per_rollout=float(np.mean([r[config]["full_passes_per_rollout"]
                                                                  for r in results.values()])))
    return out


def docs_table(record: dict) -> str:
    """The summary as a Markdown table (docs/model.md, between the streaming-table markers)."""
    steps = record["rollout"]
    lines = [f"| configuration | full passes in {steps} steps | speed-up vs exact (geo-mean, min) | "
             f"VRMSE cost vs exact: mean | worst (system) |", "|---|---|---|---|---|"]
    for config, s in record["summary"].items():
        if config == "exact":
            continue
        lines.append(f"| `{config}` | {s['full_passes_per_rollout']:.1f} | {s['speedup_geomean']:.2f}x, "
                     f"{s['speedup_min']:.2f}x | {100 * s['relative_vrmse_cost_mean']:+.1f}% | "
                     f"{100 * s['relative_vrmse_cost_worst']:+.1f}% ({s['worst_system']}) |")
    d = record["summary"].get(DEFAULT)
    if d is not None:
        cost, speed = d["relative_vrmse_cost_mean"], d["speedup_geomean"]
        met = "meets" if cost <= TARGET_COST and speed >= TARGET_SPEEDUP else "does not meet"
        lines += ["", f"The default (`{DEFAULT}`) costs {100 * cost:+.1f}% VRMSE against exact mode on average "
                      f"(worst {100 * d['relative_vrmse_cost_worst']:+.1f}%, {d['worst_system']}) at "
                      f"{speed:.2f}x (geo-mean; slowest system {d['speedup_min']:.2f}x): it {met} the target of "
                      f"at most {100 * TARGET_COST:.0f}% at {TARGET_SPEEDUP:.0f}x or more, on these "
                      f"{len(record['results'])} systems with {record['machine']['torch_threads']} CPU thread(s)."]
    return "\n".join(lines)


def write_docs_table(record: dict, path: Path) -> None:
    note = f"<!-- generated by: {record['command']} ({record['date']}) -->"
    replace_block(path, DOCS_BEGIN, DOCS_END, f"{note}\n{docs_table(record)}\n")


def write_json(path: Path, record: dict) -> None:
    from walrus.atomic import atomic_path

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(record, indent=2) + "\n")


def valid_split(cfg: TrainConfig, name: str) -> Path:
    """The validation trajectories of a system's first corpus entry (its held-out resolution), which
    training never saw and the held-out seed does not touch: where a policy is chosen."""
    entry = next((d for d in cfg.datasets if d.name == name), None)
    if entry is None:
        raise SystemExit(f"{name!r} is not in the corpus config; it lists {sorted({d.name for d in cfg.datasets})}")
    path = Path(entry.path) / "data" / "valid"
    if not path.is_dir():
        raise SystemExit(f"{path}: no validation split; `walrus train` on the corpus config generates it")
    return path


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="pretrained", help="'pretrained' (the shipped model) or a checkpoint path")
    p.add_argument("--corpus", type=Path, default=Path("examples/configs/pretrain_corpus.yaml"),
                   help="the corpus whose systems' held-out data is used (bench/accuracy.py's)")
    p.add_argument("--split", choices=("heldout", "valid"), default="heldout",
                   help="held-out trajectories (for reporting) or the corpus's validation split (for choosing a policy)")
    p.add_argument("--heldout", type=Path, default=Path("data/heldout"))
    p.add_argument("--heldout-traj", type=int, default=3)
    p.add_argument("--systems", nargs="*", default=list(SYSTEMS))
    p.add_argument("--configs", nargs="*", default=list(CONFIGS),
                   help=f"{', '.join(EXACT)}, none, or comma-separated every=K, drift=F, min_gap=G")
    p.add_argument("--rollout", type=int, default=20)
    p.add_argument("--windows", type=int, default=3, help="held-out windows per 2-D system")
    p.add_argument("--windows-3d", type=int, default=1, help="held-out windows per 3-D system (a 3-D step costs ~10x)")
    p.add_argument("--seeds", type=int, default=3, help="jitter seeds per window")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu", help="for --latency-presets (the main run is on the CPU)")
    p.add_argument("--out", type=Path, default=Path("bench/results/streaming_rollout_cpu.json"))
    p.add_argument("--docs", type=Path, help="a Markdown page whose table between the streaming-table markers is rewritten")
    p.add_argument("--latency-presets", nargs="*", default=[], help="only time one step of each mode for these presets")
    add_quiet(p)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    command = "python bench/streaming_rollout.py " + " ".join(argv if argv is not None else sys.argv[1:])
    machine = dict(platform=platform.platform(), cpu_count=os.cpu_count(), torch_threads=torch.get_num_threads(),
                   python=platform.python_version(), torch=torch.__version__, device=a.device,
                   gpu=torch.cuda.get_device_name(0) if a.device.startswith("cuda") else None)
    date = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    if a.latency_presets:
        rows = [step_latency(name, a.device, 128, 6)
                for name in progress(a.latency_presets, desc="step latency", quiet=a.quiet, unit="preset")]
        for r in rows:
            say(f"{r['preset']:<13} exact {r['exact_s'] * 1e3:8.1f} ms/step  streaming {r['streaming_s'] * 1e3:8.1f} "
                f"ms/step  speed-up {r['speedup']:.2f}x")
        record = dict(benchmark="streaming_step_latency", date=date, command=command, machine=machine, results=rows)
        write_json(a.out, record)
        return record

    for config in a.configs:
        parse_config(config)
    if "exact" not in a.configs:
        a.configs.insert(0, "exact")
    if a.model == "pretrained":  # the accuracy run is on the CPU
        from walrus.model.pretrained import DEFAULT_PRETRAINED

        label, model = f"{DEFAULT_PRETRAINED} (shipped, pretrained)", walrus.Surrogate.from_pretrained().model
    else:
        label, model = a.model, walrus.get_model(a.model, dtype=torch.float32).eval()
    cfg = TrainConfig.from_yaml(a.corpus)
    results = {}
    bar = progress(total=sum(a.windows_3d if "_3d_" in n else a.windows for n in a.systems) * a.seeds, desc="rollouts (every configuration)",
                   quiet=a.quiet, unit="rollout")
    for name in a.systems:
        history = window_history(cfg, model.config, "_3d_" in name)
        if a.split == "valid":
            data_dir = valid_split(cfg, name)
        else:
            data_dir = heldout_root(cfg, name, a.heldout, n_traj=a.heldout_traj, steps=history + a.rollout,
                                    progress=not a.quiet)
        batches = heldout_batches(data_dir, name, model.config.field_names, history, a.rollout,
                                  a.windows_3d if "_3d_" in name else a.windows)
        row = run_system(model, a.configs, batches, a.rollout, a.seeds, bar)
        exact = row["exact"]
        for config, r in row.items():
            r["relative_vrmse_cost"] = r["vrmse_mean"] / exact["vrmse_mean"] - 1
            say(f"{name:<31} {config:<18} {r['seconds_per_step'] * 1e3:7.1f} ms/step ({r['speedup']:4.2f}x)  "
                f"VRMSE {r['vrmse_mean']:.3f} (step {a.rollout}: {r['vrmse_last']:.3f})  "
                f"cost {100 * r['relative_vrmse_cost']:+5.1f}%  full passes {r['full_passes_per_rollout']:.1f}")
        results[name] = dict(history=history, windows=len(batches), resolution=list(batches[0].x.shape[-3:]), **row)
    bar.close()
    per_system = {n: {c: r[c] for c in a.configs} for n, r in results.items()}
    summary = summarise(per_system, a.configs)
    for config, s in summary.items():
        say(f"{config:<18} speed-up {s['speedup_geomean']:.2f}x  VRMSE cost mean {100 * s['relative_vrmse_cost_mean']:+.1f}%"
            f"  worst {100 * s['relative_vrmse_cost_worst']:+.1f}%")
    record = dict(benchmark="streaming_rollout", date=date, command=command, machine=machine,
                  model=label, split=a.split, rollout=a.rollout, seeds=a.seeds,
                  metric="VRMSE (The Well) vs the solver, mean over real channels, windows, seeds and rollout steps; "
                         "cost = VRMSE / exact's VRMSE - 1; seconds per step: median over rollouts after a warm-up",
                  summary=summary, results=results)
    write_json(a.out, record)
    if a.docs:
        write_docs_table(record, a.docs)
    return record


if __name__ == "__main__":
    main()
