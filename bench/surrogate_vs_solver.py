"""Cost per simulated time unit and VRMSE against the solver, for each adapted code, on CPU.

Three runs per code and grid, from the same initial condition and over the same intervals:
  solver     the code alone (its adapter's coupling: advance + read, nothing else);
  hybrid     the guarded hybrid loop, k surrogate / m solver steps after warm-up;
  surrogate  surrogate-only after warm-up (k=1, m=0, the guard only checks for NaN).
VRMSE (The Well's definition, mean over fields and over the frames after warm-up, and at the
last frame) is against the solver run. Codes: PyClaw shallow water, py-pde diffusion (under
pde.Controller), scipy solve_ivp linear acoustics (method of lines), Dedalus tracer in a shear flow.

    python bench/surrogate_vs_solver.py --res 32 64 --steps 20 [--pyclaw-checkpoint model.safetensors]

Without a checkpoint the surrogate is an untrained walrus-tiny: its VRMSE is then meaningless
and only its cost counts. `walrus quickstart` writes a shallow-water checkpoint (trained at 16x16).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import runpy
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

RESULTS = Path(__file__).parent / "results"
ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(Path(__file__).parent))

from _progress import add_quiet, cases as progress, say  # noqa: E402


def channels_last(frames: list[dict]) -> np.ndarray:
    """(T, x, y, C): every field's components as channels (2-D grids), in the frames' key order."""
    return np.stack([np.concatenate([a[..., None] if a.ndim == 2 else a for a in f.values()], axis=-1)
                     for f in frames])


def vrmse_summary(pred: list[dict], truth: list[dict], warmup: int) -> dict:
    from walrus.metrics import vrmse

    err = vrmse(torch.from_numpy(channels_last(pred)), torch.from_numpy(channels_last(truth)), 2).numpy()
    return {"vrmse_after_warmup": float(err[warmup + 1:].mean()), "vrmse_final": float(err[-1].mean())}


# ---------------------------------------------------------------- the codes
def pyclaw_case(res: int, seed: int):
    from walrus.data.generators.shallow_water import COORD_UNITS, DT_OUT, UNITS, make_solver
    from walrus_adapters import DriftGuard
    from walrus_adapters.pyclaw import PyClawHybrid

    def make(surrogate, policy, guarded):
        solver, solution = make_solver(res, np.random.default_rng([seed, 10_000]))  # the quickstart's unseen start
        guard = DriftGuard(conserved={"height": 1e-3}, bounds={"height": (0.0, None)}) if guarded else DriftGuard()
        return PyClawHybrid(solver, solution, surrogate, physics="shallow_water", units=UNITS,
                            coord_units=COORD_UNITS, dt=DT_OUT, policy=policy, guard=guard)

    return make, DT_OUT


def scipy_case(res: int, seed: int):
    from walrus_adapters import DriftGuard
    from walrus_adapters.scipy_ivp import ScipyIVPHybrid

    ex = runpy.run_path(str(ROOT / "examples" / "adapter_scipy.py"))
    length = 10.0
    x = (np.arange(res) + 0.5) * length / res
    dt = length / res / 340.0

    def make(surrogate, policy, guarded):
        guard = DriftGuard(bounds={"pressure": (-1e3, 1e3)}) if guarded else DriftGuard()
        return ScipyIVPHybrid(ex["acoustics_rhs"](res, length), ex["initial_vector"](res, length), surrogate,
                              fields={"pressure": "Pa", "velocity": "km s-1"}, coords={"x": x, "y": x},
                              boundaries={"x": "PERIODIC", "y": "PERIODIC"}, dt=dt, method="RK45", rtol=1e-6,
                              atol=1e-9, policy=policy, guard=guard)

    return make, dt


def dedalus_case(res: int, seed: int):
    from walrus_adapters import DriftGuard
    from walrus_adapters.dedalus import DedalusHybrid

    ex = runpy.run_path(str(ROOT / "examples" / "adapter_dedalus.py"))

    def make(surrogate, policy, guarded):
        solver, s = ex["tracer_in_shear"](res)
        guard = DriftGuard(conserved={"tracer": 1e-3}, bounds={"tracer": (0.0, None)}) if guarded else DriftGuard()
        return DedalusHybrid(solver, surrogate, fields={"tracer": s}, units={"tracer": "1"}, dt=0.05,
                             inner_dt=0.05 / max(1, res // 8), policy=policy, guard=guard)

    return make, 0.05


def pypde_case(res: int, seed: int):
    """py-pde runs through pde.Controller; ``make`` returns a runner with the Hybrid's interface."""
    import pde

    from walrus_adapters import DriftGuard, WalrusHybridSolver

    grid = pde.CartesianGrid([[0.0, 1.0], [0.0, 1.0]], [res, res], periodic=True)
    state = pde.ScalarField.random_normal(grid, mean=1.0, std=0.2, rng=np.random.default_rng(seed)).smooth(0.05)
    eq, dt, inner_dt = pde.DiffusionPDE(diffusivity=0.005), 0.1, 0.1 / max(1, res // 8)

    class Runner:
        def __init__(self, surrogate, policy, guarded):
            guard = DriftGuard(conserved={"concentration": 1e-3}) if guarded else DriftGuard()
            self.solver = WalrusHybridSolver(eq, surrogate, fields=["concentration"], units={"concentration": "1"},
                                             inner_dt=inner_dt, policy=policy, guard=guard)
            self.frames = []

        def run(self, steps):
            tracker = pde.CallbackTracker(lambda f, t: self.frames.append({"concentration": np.array(f.data)}),
                                          interrupts=dt)
            pde.Controller(self.solver, t_range=steps * dt, tracker=[tracker]).run(state, dt=dt)
            self.records, self.warmup = self.solver.hybrid.records, self.solver.hybrid.warmup

        def solver_frames(self, steps):
            frames = []
            tracker = pde.CallbackTracker(lambda f, t: frames.append({"concentration": np.array(f.data)}),
                                          interrupts=dt)
            inner = pde.RungeKuttaSolver(eq, backend="numpy")
            start = time.perf_counter()
            pde.Controller(inner, t_range=steps * dt, tracker=[tracker]).run(state, dt=inner_dt)
            return frames, time.perf_counter() - start

    return Runner, dt


# ---------------------------------------------------------------- the three runs
def measure(name: str, case, res: int, steps: int, k: int, m: int, surrogate_factory, seed: int) -> dict:
    from walrus_adapters import HybridPolicy

    make, dt = case(res, seed)
    sim = steps * dt
    make(surrogate_factory(), HybridPolicy(k, m), True).run(1)  # untimed: imports, first-call set-up
    row = {"code": name, "res": res, "steps": steps, "dt": dt, "policy": {"k": k, "m": m}}
    if name == "pypde_diffusion":
        reference = make(surrogate_factory(), HybridPolicy(k, m), True)
        reference.solver_frames(steps)  # once untimed: py-pde builds and caches its operators on the first run
        truth, seconds = reference.solver_frames(steps)
        runs = {}
        for label, policy, guarded in (("hybrid", HybridPolicy(k, m), True), ("surrogate", HybridPolicy(1, 0), False)):
            r = make(surrogate_factory(), policy, guarded)
            start = time.perf_counter()
            r.run(steps)
            runs[label] = (r.frames, time.perf_counter() - start, r.records, r.warmup)
    else:
        ref = make(surrogate_factory(), HybridPolicy(k, m), True)
        coupling = ref.coupling
        truth = [coupling.read()]
        start = time.perf_counter()
        for i in range(steps):
            coupling.advance(i * dt, dt)
            truth.append(coupling.read())
        seconds = time.perf_counter() - start
        runs = {}
        for label, policy, guarded in (("hybrid", HybridPolicy(k, m), True), ("surrogate", HybridPolicy(1, 0), False)):
            h = make(surrogate_factory(), policy, guarded)
            frames = [h.coupling.read()]
            start = time.perf_counter()
            for _ in range(steps):
                h.step()
                frames.append(h.frame())
            runs[label] = (frames, time.perf_counter() - start, h.records, h.warmup)
    row["solver"] = {"seconds": seconds, "seconds_per_time_unit": seconds / sim}
    for label, (frames, secs, records, warmup) in runs.items():
        kinds = [r.kind for r in records]
        sur = [r.seconds for r in records if r.kind == "surrogate"]
        sol = [r.seconds for r in records if r.kind == "solver"]
        row[label] = {"seconds": secs, "seconds_per_time_unit": secs / sim, "warmup": warmup,
                      "surrogate_steps": kinds.count("surrogate"), "solver_steps": kinds.count("solver"),
                      "fallbacks": sum(r.fell_back for r in records),
                      "mean_surrogate_step_s": float(np.mean(sur)) if sur else None,
                      "mean_solver_step_s": float(np.mean(sol)) if sol else None,
                      **vrmse_summary(frames, truth, warmup)}
    return row


def machine() -> dict:
    return dict(python=platform.python_version(), torch=torch.__version__, cpu=platform.processor() or platform.machine(),
                cpu_count=os.cpu_count(), threads=torch.get_num_threads(), platform=platform.platform())


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--res", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--k", type=int, default=1)
    parser.add_argument("--m", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--codes", nargs="+", default=["pyclaw_shallow_water", "pypde_diffusion", "scipy_acoustics",
                                                          "dedalus_tracer"])
    parser.add_argument("--pyclaw-checkpoint", default=None, help="a shallow-water model (e.g. from walrus quickstart)")
    parser.add_argument("--device", default="cpu", help="where the surrogate runs (the solvers stay on the CPU)")
    parser.add_argument("--out", type=Path, default=RESULTS / "surrogate_vs_solver_cpu.json")
    add_quiet(parser)
    args = parser.parse_args(argv)

    import walrus
    from walrus.surrogate import Surrogate

    cases = {"pyclaw_shallow_water": pyclaw_case, "pypde_diffusion": pypde_case, "scipy_acoustics": scipy_case,
             "dedalus_tracer": dedalus_case}
    untrained = walrus.get_model("walrus-tiny", device=args.device).eval()
    trained = Surrogate.from_pretrained(args.pyclaw_checkpoint, device=args.device).model if args.pyclaw_checkpoint else None
    rows = []
    for code, res in progress([(c, r) for c in args.codes for r in args.res], desc="surrogate_vs_solver",
                              quiet=args.quiet):
        model = trained if (code == "pyclaw_shallow_water" and trained is not None) else untrained
        row = measure(code, cases[code], res, args.steps, args.k, args.m,
                      lambda: Surrogate(model, seed=args.seed), args.seed)
        row["model"] = args.pyclaw_checkpoint if model is trained else "walrus-tiny (untrained)"
        rows.append(row)
        say(f"{code:<22} {res:>4}^2  s/time unit: solver {row['solver']['seconds_per_time_unit']:.4g}  "
            f"hybrid {row['hybrid']['seconds_per_time_unit']:.4g}  surrogate {row['surrogate']['seconds_per_time_unit']:.4g}"
            f"  | VRMSE after warm-up: hybrid {row['hybrid']['vrmse_after_warmup']:.3g}"
            f"  surrogate {row['surrogate']['vrmse_after_warmup']:.3g}"
            f"  | fallbacks {row['hybrid']['fallbacks']}")
    result = dict(benchmark="surrogate_vs_solver", date=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                  command=" ".join([Path(sys.executable).name, *sys.argv]), device=args.device,
                  machine=dict(machine(), gpu=torch.cuda.get_device_name(0) if args.device.startswith("cuda") else None),
                  results=rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")
    return result


if __name__ == "__main__":
    main()
