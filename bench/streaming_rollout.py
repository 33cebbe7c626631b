"""Streaming (cached) against exact (recomputed-window) rollout: speed-up and accuracy.

Generates a small dataset with a real solver (a registered plugin dataset), trains walrus-tiny
briefly (or loads --checkpoint), then rolls both modes out from the same validation windows and
reports seconds per step, VRMSE against the solver's truth, and VRMSE between the two modes.

    python bench/streaming_rollout.py --dataset shallow_water_pyclaw --train-steps 300 --rollout 20
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from _progress import add_quiet, cases as progress, say
from walrus.io import read_well_file
from walrus.metrics import vrmse
from walrus.state import State
from walrus.surrogate import Surrogate


def train(data: Path, name: str, steps: int, out: Path, device: str, quiet: bool = True) -> Path:
    from walrus.train import TrainConfig
    from walrus.train.trainer import Trainer

    cfg = TrainConfig(datasets=[{"name": name, "path": str(data)}], out_dir=str(out), preset="walrus-tiny",
                      epochs=1, steps_per_epoch=steps, warmup_epochs=0, cooldown_epochs=0, validate_every=0,
                      lr=1e-3, checkpoint_every=10 ** 9, progress=not quiet, device=device)
    trainer = Trainer(cfg)
    trainer.fit()
    return trainer.export()


def field_vrmse(pred: State, truth: dict[str, np.ndarray], n_dims: int) -> float:
    scores = []
    for name, value in pred.fields.items():
        p = torch.as_tensor(value[-1]).reshape(*value.shape[1:1 + n_dims], -1)
        t = torch.as_tensor(truth[name]).reshape(p.shape)
        scores.append(vrmse(p.unsqueeze(0), t.unsqueeze(0), n_dims).mean().item())
    return float(np.mean(scores))


def step_latency(preset: str, device: str, size: int, history: int, repeat: int = 5) -> dict:
    """Per-step model time of the two modes on a (history, 1, 4, size, size) window, untrained weights:
    exact = one forward over the window; streaming = one frame through the cached network."""
    import walrus
    from walrus.model.streaming import open_stream, stream_step

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
        exact = timed(lambda: model(x, ids, [bcs], draws=draws, check_inputs=False))
        stream = open_stream(model, x.shape[1:], ids, bcs, max_frames=history, draws=draws)
        for t in range(history):
            stream_step(model, stream, x[t])
        streaming = timed(lambda: stream_step(model, stream, x[-1]))
    return dict(preset=preset, device=device, window=[history, size, size], exact_s=exact, streaming_s=streaming,
                speedup=exact / streaming)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="shallow_water_pyclaw")
    p.add_argument("--res", type=int, default=64)
    p.add_argument("--n-traj", type=int, default=6)
    p.add_argument("--steps", type=int, default=40, help="saved frames per generated trajectory")
    p.add_argument("--train-steps", type=int, default=300)
    p.add_argument("--checkpoint", type=Path, default=None)
    p.add_argument("--data", type=Path, default=None, help="an already generated dataset root (skips generation)")
    p.add_argument("--save-checkpoint", type=Path, default=None, help="keep the trained model here")
    p.add_argument("--rollout", type=int, default=20)
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "streaming_rollout_cpu.json")
    p.add_argument("--latency-presets", nargs="*", default=[], help="only time the two modes per step for these presets")
    add_quiet(p)
    a = p.parse_args()
    if a.latency_presets:
        rows = [step_latency(name, a.device, 128, 6)
                for name in progress(a.latency_presets, desc="step latency", quiet=a.quiet, unit="preset")]
        for r in rows:
            say(f"{r['preset']:<13} exact {r['exact_s'] * 1e3:8.1f} ms/step  streaming {r['streaming_s'] * 1e3:8.1f} ms/step  "
                f"speed-up {r['speedup']:.2f}x")
        payload = dict(benchmark="streaming_step_latency", date=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                       command=" ".join([Path(sys.executable).name, *sys.argv]),
                       machine=dict(torch=torch.__version__, device=a.device,
                                    gpu=torch.cuda.get_device_name(0) if a.device.startswith("cuda") else None),
                       results=rows)
        a.out.write_text(json.dumps(payload, indent=2))
        return
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        start = time.perf_counter()
        from walrus.data.generators.pipeline import generate_dataset

        data = a.data or generate_dataset(a.dataset, tmp / "data", n_traj=a.n_traj, res=a.res, steps=a.steps, seed=0,
                                          progress=not a.quiet)
        generation_s = time.perf_counter() - start if a.data is None else None
        start = time.perf_counter()
        checkpoint = a.checkpoint or train(data, a.dataset, a.train_steps, tmp / "run", a.device, a.quiet)
        training_s = time.perf_counter() - start
        if a.save_checkpoint:
            shutil.copy(checkpoint, a.save_checkpoint)
        files = sorted((data / "data" / "valid").glob("*.hdf5")) + sorted((data / "data" / "test").glob("*.hdf5"))
        trajectories = [(f, i) for f in files for i in range(read_well_file(f).sizes.get("sample", 1))]
        rows = []
        for sample, (file, index) in enumerate(progress(trajectories, desc="rollouts", quiet=a.quiet,
                                                        unit="trajectory")):
            full = State.from_dataset(read_well_file(file), sample=index)
            history = Surrogate.from_pretrained(str(checkpoint)).history_for(full)
            n = min(a.rollout, full.n_steps - history)
            window = State(fields={k: v[:history] for k, v in full.fields.items()}, time=full.time[:history],
                           coords=full.coords, boundaries=full.boundaries, constant_fields=full.constant_fields,
                           parameters=full.parameters, units=full.units)
            result = {}
            for mode in ("exact", "streaming"):
                sur = Surrogate.from_pretrained(str(checkpoint), device=a.device, mode=mode, seed=sample)
                t0 = time.perf_counter()
                states = list(sur.rollout(window, n))
                seconds = time.perf_counter() - t0
                truth = [{k: v[history + i] for k, v in full.fields.items()} for i in range(n)]
                result[mode] = dict(states=states, seconds_per_step=seconds / n,
                                    vrmse=[field_vrmse(s, tr, full.n_dims) for s, tr in zip(states, truth)])
            between = [field_vrmse(s, {k: v[-1] for k, v in e.fields.items()}, full.n_dims)
                       for s, e in zip(result["streaming"]["states"], result["exact"]["states"])]
            rows.append(dict(sample=sample, steps=n,
                             exact_seconds_per_step=result["exact"]["seconds_per_step"],
                             streaming_seconds_per_step=result["streaming"]["seconds_per_step"],
                             speedup=result["exact"]["seconds_per_step"] / result["streaming"]["seconds_per_step"],
                             exact_vrmse_vs_truth=result["exact"]["vrmse"],
                             streaming_vrmse_vs_truth=result["streaming"]["vrmse"],
                             streaming_vrmse_vs_exact=between))
            say(f"sample {sample}: speed-up {rows[-1]['speedup']:.2f}x; VRMSE vs truth at step {n}: exact "
                f"{result['exact']['vrmse'][-1]:.3f}, streaming {result['streaming']['vrmse'][-1]:.3f}; "
                f"streaming vs exact {between[-1]:.3f}")
    summary = dict(mean_speedup=float(np.mean([r["speedup"] for r in rows])),
                   mean_final_vrmse_exact=float(np.mean([r["exact_vrmse_vs_truth"][-1] for r in rows])),
                   mean_final_vrmse_streaming=float(np.mean([r["streaming_vrmse_vs_truth"][-1] for r in rows])),
                   mean_final_vrmse_streaming_vs_exact=float(np.mean([r["streaming_vrmse_vs_exact"][-1] for r in rows])))
    payload = dict(benchmark="streaming_rollout", date=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                   command=" ".join([Path(sys.executable).name, *sys.argv]),
                   machine=dict(python=platform.python_version(), torch=torch.__version__, cpu_count=os.cpu_count(),
                                device=a.device),
                   dataset=a.dataset, res=a.res, train_steps=a.train_steps, generation_seconds=generation_s,
                   training_seconds=training_s, summary=summary, results=rows)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = a.out.with_suffix(".json.tmp")
    tmp_out.write_text(json.dumps(payload, indent=2))
    os.replace(tmp_out, a.out)
    print(json.dumps(summary, indent=1))
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
