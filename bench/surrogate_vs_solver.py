"""When the surrogate pays off: cost per simulated time unit and VRMSE against the solver, over a resolution sweep.

Per code and resolution, from one evaluation initial condition (a seed no training run uses) and
over the same output intervals ``dt`` (fixed in physical time, so a surrogate step covers the same
interval at every resolution while an explicit solver takes more CFL steps as the grid refines):

  solver       the code alone (its adapter's coupling: advance + read, nothing else);
  hybrid       the guarded hybrid loop (walrus_adapters), k surrogate / m solver steps after warm-up;
  surrogate    surrogate-only after warm-up (k=1, m=0; the guard only checks for NaN);
  persistence  the same loop with the last frame copied forward after warm-up: the floor any
               surrogate has to beat.

Each is timed as the median of ``--repeats`` runs, after an untimed warm-up (solver steps and the
model's first calls at that resolution). VRMSE (The Well's definition, walrus.metrics.vrmse, mean
over channels) is against the solver run, ``--horizons`` steps after the warm-up. The model is the
shipped pretrained walrus-mini fine-tuned briefly on each code's own trajectories (training seeds,
never the evaluation initial condition; cached under runs/, so a rerun skips it). A power law
``cost ~ a N^p`` fitted to the largest resolutions gives the crossover resolution above which the
hybrid is cheaper than the solver: measured where the sweep brackets it, extrapolated otherwise.

Codes: py-pde diffusion with an explicit Euler stepper at 0.8x its stability limit (cost ~ N^4),
PyClaw shallow water (CFL-limited finite volumes, ~ N^3), scipy solve_ivp linear acoustics (method
of lines, adaptive RK45, ~ N^3) and a Dedalus tracer in a shear flow (spectral, RK222 at an
advective CFL of 0.4, ~ N^3 log N; swept to 128 only, where one solver run already takes ~20 s).

    python bench/surrogate_vs_solver.py                  # fine-tunes (cached), sweep 32-256, plot
    python bench/surrogate_vs_solver.py --codes pypde_diffusion --res 16 32 --repeats 1 \\
        --checkpoint model.safetensors --out /tmp/s.json --plot /tmp/s.png   # a smoke run
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import runpy
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np
import torch

RESULTS = Path(__file__).parent / "results"
ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(Path(__file__).parent))

from _progress import add_quiet, cases as progress, say  # noqa: E402

EVAL_STREAM, TRAIN_STREAM = 10_000, 20_000  # rng streams of the evaluation and of the training initial conditions


# ---------------------------------------------------------------- persistence
class Persistence:
    """A surrogate with the step API that copies the last frame forward: the baseline every model must beat."""

    def __init__(self, history: int):
        self.history = history

    def history_for(self, state) -> int:
        return self.history

    def observe(self, state) -> None:
        pass

    def reset(self) -> None:
        pass

    def step(self, state):
        return state  # the hybrid loop reads the last frame of what step returns


# ---------------------------------------------------------------- the codes
@dataclass(frozen=True)
class Code:
    """One solver set-up at any resolution: ``build(res, rng, surrogate, policy, guarded)`` returns a
    walrus_adapters Hybrid whose initial condition is drawn from ``rng`` (continuous in space, so
    every resolution sees the same problem); ``dt`` is the output interval (fixed in time)."""
    name: str
    dt: float
    build: Callable
    describe: str
    max_res: int = 256           # the sweep stops here (the solver alone would take minutes per run beyond)
    max_finetune_res: int = 128  # fine-tune data up to this resolution (generation time)


_PYPDE_GRIDS: dict = {}
DIFFUSIVITY = 0.002  # slow enough that the field keeps most of its variance over the 35 scored intervals


def pypde_build(res, rng, surrogate, policy, guarded):
    import pde

    from walrus_adapters import DriftGuard
    from walrus_adapters.hybrid import Hybrid
    from walrus_adapters.pypde import PyPDECoupling, WalrusHybridSolver

    diffusivity = DIFFUSIVITY
    if res not in _PYPDE_GRIDS:  # one grid per resolution: py-pde compiles its operators once per grid (untimed warm-up)
        _PYPDE_GRIDS[res] = pde.CartesianGrid([[0.0, 1.0], [0.0, 1.0]], [res, res], periodic=True)
    grid = _PYPDE_GRIDS[res]
    x = (np.arange(res) + 0.5) / res
    xx, yy = np.meshgrid(x, x, indexing="ij")
    c = np.ones((res, res))
    for _ in range(6):  # a few random Fourier modes, |k_x|, |k_y| <= 2: the same field at every resolution
        kx, ky = rng.integers(-2, 3, size=2)
        c += rng.uniform(0.05, 0.2) * np.cos(2 * np.pi * (kx * xx + ky * yy) + rng.uniform(0, 2 * np.pi))
    state = pde.ScalarField(grid, c)
    eq = pde.DiffusionPDE(diffusivity=diffusivity)
    guard = DriftGuard(conserved={"concentration": 1e-3}) if guarded else DriftGuard()
    shell = WalrusHybridSolver(eq, surrogate, fields=["concentration"], units={"concentration": "1"},
                               inner_dt=1e-3, policy=policy, guard=guard)  # for its layout and checks
    inner_dt = 0.2 * (1.0 / res) ** 2 / diffusivity  # forward Euler in 2-D is stable up to dx^2 / (4 D)
    inner = pde.EulerSolver(eq, backend="numpy", adaptive=False)
    coupling = PyPDECoupling(state, ["concentration"], inner, inner_dt)
    return Hybrid(surrogate, coupling, shell.layout(state), dt=0.1, policy=policy, guard=guard)


def pyclaw_build(res, rng, surrogate, policy, guarded):
    from walrus.data.generators.shallow_water import COORD_UNITS, DT_OUT, UNITS, make_solver
    from walrus_adapters import DriftGuard
    from walrus_adapters.pyclaw import PyClawHybrid

    solver, solution = make_solver(res, rng)
    guard = DriftGuard(conserved={"height": 1e-3}, bounds={"height": (0.0, None)}) if guarded else DriftGuard()
    return PyClawHybrid(solver, solution, surrogate, physics="shallow_water", units=UNITS, coord_units=COORD_UNITS,
                        dt=DT_OUT, policy=policy, guard=guard)


def scipy_build(res, rng, surrogate, policy, guarded):
    from walrus_adapters import DriftGuard
    from walrus_adapters.scipy_ivp import ScipyIVPHybrid

    length = 10.0
    rhs = runpy.run_path(str(ROOT / "examples" / "adapter_scipy.py"))["acoustics_rhs"](res, length, 1.0)
    x = (np.arange(res) + 0.5) * length / res
    xx, yy = np.meshgrid(x, x, indexing="ij")
    p = np.zeros((res, res))
    for _ in range(2):  # two Gaussian pulses at random places (periodic images)
        cx, cy = rng.uniform(0, length, size=2)
        dx = (xx - cx + length / 2) % length - length / 2
        dy = (yy - cy + length / 2) % length - length / 2
        p += rng.uniform(20.0, 60.0) * np.exp(-(dx ** 2 + dy ** 2) / rng.uniform(0.6, 1.2) ** 2)
    y0 = np.concatenate([p.ravel(), np.zeros(res * res * 2)])
    guard = DriftGuard(bounds={"pressure": (-1e3, 1e3)}) if guarded else DriftGuard()
    return ScipyIVPHybrid(rhs, y0, surrogate, fields={"pressure": "Pa", "velocity": "m s-1"}, coords={"x": x, "y": x},
                          boundaries={"x": "PERIODIC", "y": "PERIODIC"}, dt=SCIPY_DT, method="RK45", rtol=1e-6,
                          atol=1e-9, policy=policy, guard=guard)


SCIPY_DT = 10.0 / 32 / 340.0  # one 32-grid cell crossed at the sound speed


def dedalus_build(res, rng, surrogate, policy, guarded):
    from walrus_adapters import DriftGuard
    from walrus_adapters.dedalus import DedalusHybrid

    solver, s = runpy.run_path(str(ROOT / "examples" / "adapter_dedalus.py"))["tracer_in_shear"](res)
    x = np.arange(res) / res  # RealFourier grid points on [0, 1)
    xx, yy = np.meshgrid(x, x, indexing="ij")
    c = np.ones((res, res))
    for _ in range(2):  # two Gaussian blobs at random places (periodic images) replace the example's fixed one
        cx, cy = rng.uniform(0, 1, size=2)
        dx, dy = (xx - cx + 0.5) % 1.0 - 0.5, (yy - cy + 0.5) % 1.0 - 0.5
        c += rng.uniform(0.5, 1.0) * np.exp(-(dx ** 2 + dy ** 2) / rng.uniform(0.08, 0.15) ** 2)
    s.change_scales(1)
    s["g"] = c
    guard = DriftGuard(conserved={"tracer": 1e-3}, bounds={"tracer": (0.0, None)}) if guarded else DriftGuard()
    return DedalusHybrid(solver, surrogate, fields={"tracer": s}, units={"tracer": "1"}, dt=0.05,
                         inner_dt=0.4 / res, policy=policy, guard=guard)  # advective CFL 0.4 (|u| <= 1)


def _codes() -> dict[str, Code]:
    from walrus.data.generators.shallow_water import DT_OUT

    return {c.name: c for c in (
        Code("pypde_diffusion", 0.1, pypde_build,
             "py-pde DiffusionPDE (D=0.002, periodic unit square, random modes |k|<=2), explicit Euler at dt = 0.2 dx^2/D, numpy backend"),
        Code("pyclaw_shallow_water", DT_OUT, pyclaw_build,
             "PyClaw shallow_roe_with_efix_2D, 10 m basin with walls, random mounds (walrus's shallow-water set-up)"),
        Code("scipy_acoustics", SCIPY_DT, scipy_build,
             "scipy solve_ivp RK45 (rtol 1e-6), 2-D linear acoustics by central differences, periodic 10 m box"),
        Code("dedalus_tracer", 0.05, dedalus_build,
             "Dedalus 3 RK222, tracer in the shear flow u = (sin 2 pi y, 0), kappa 1e-3, periodic unit square, "
             "Fourier x Fourier, dt = 0.4/N", max_res=128, max_finetune_res=64),
    )}


def code_rng(seed: int, stream: int, k: int = 0) -> np.random.Generator:
    return np.random.default_rng([seed, stream + k])


# ---------------------------------------------------------------- runs
def solver_run(code: Code, res: int, steps: int, seed: int, history: int):
    """The code alone: ``steps`` output intervals; returns (frames, seconds of the stepping)."""
    from walrus_adapters import HybridPolicy

    h = code.build(res, code_rng(seed, EVAL_STREAM), Persistence(history), HybridPolicy(1, 0), False)
    frames = [h.coupling.read()]
    start = time.perf_counter()
    for i in range(steps):
        h.coupling.advance(i * code.dt, code.dt)
        frames.append(h.coupling.read())
    return frames, time.perf_counter() - start


def loop_run(code: Code, res: int, steps: int, seed: int, surrogate, policy, guarded: bool):
    """The hybrid loop with ``surrogate`` (a model or Persistence): (frames, seconds, hybrid)."""
    h = code.build(res, code_rng(seed, EVAL_STREAM), surrogate, policy, guarded)
    frames = [h.coupling.read()]
    start = time.perf_counter()
    for _ in range(steps):
        h.step()
        frames.append(h.frame())
    return frames, time.perf_counter() - start, h


def channels_last(frames: list[dict]) -> np.ndarray:
    """(T, x, y, C): every field's components as channels, in the frames' key order."""
    return np.stack([np.concatenate([a[..., None] if a.ndim == 2 else a for a in f.values()], axis=-1)
                     for f in frames])


def vrmse_per_frame(pred: list[dict], truth: list[dict]) -> np.ndarray:
    """VRMSE per frame, mean over channels (The Well's definition)."""
    from walrus.metrics import vrmse

    err = vrmse(torch.from_numpy(channels_last(pred)), torch.from_numpy(channels_last(truth)), 2)
    return err.mean(-1).numpy()


def measure(code: Code, res: int, *, model, seed: int, k: int, m: int, horizons: list[int], repeats: int) -> dict:
    """Solver, hybrid, surrogate-only and persistence at one resolution: medians of ``repeats`` timed runs
    after an untimed warm-up, VRMSE against the solver ``horizons`` steps after the model's warm-up."""
    from walrus.surrogate import Surrogate
    from walrus_adapters import HybridPolicy

    def surrogate():
        return Surrogate(model, seed=seed)

    probe = code.build(res, code_rng(seed, EVAL_STREAM), surrogate(), HybridPolicy(1, 0), False)
    probe.start()
    history, warmup = probe.history, probe.warmup
    steps = warmup + max(horizons)
    sim_time = steps * code.dt

    # untimed warm-up: solver steps, and the model's first calls at this resolution (k surrogate steps)
    t0 = time.perf_counter()
    solver_run(code, res, min(steps, warmup + 2), seed, history)
    _, _, h = loop_run(code, res, warmup + 2, seed, surrogate(), HybridPolicy(1, 0), False)
    warm = {"seconds": time.perf_counter() - t0, "solver_steps": warmup + 2,
            "surrogate_calls": sum(r.kind == "surrogate" for r in h.records)}

    variants = {"hybrid": (surrogate, HybridPolicy(k, m), True), "surrogate": (surrogate, HybridPolicy(1, 0), False),
                "persistence": (lambda: Persistence(history), HybridPolicy(1, 0), False)}
    times = {name: [] for name in ("solver", *variants)}
    runs = {}
    for _ in range(repeats):
        truth, secs = solver_run(code, res, steps, seed, history)
        times["solver"].append(secs)
        for name, (make, policy, guarded) in variants.items():
            frames, secs, h = loop_run(code, res, steps, seed, make(), policy, guarded)
            times[name].append(secs)
            runs[name] = (frames, h)

    row = {"code": code.name, "res": res, "dt": code.dt, "steps": steps, "warmup_steps": warmup,
           "simulated_time": sim_time, "policy": {"k": k, "m": m}, "untimed_warmup": warm}
    for name, secs in times.items():
        entry = {"seconds_median": statistics.median(secs), "seconds": secs,
                 "seconds_per_time_unit": statistics.median(secs) / sim_time}
        if name in runs:
            frames, h = runs[name]
            err = vrmse_per_frame(frames, truth)
            kinds = [r.kind for r in h.records]
            entry.update({f"vrmse_step{n}": float(err[warmup + n]) for n in horizons})
            entry[f"vrmse_mean_1_{horizons[0]}"] = float(err[warmup + 1: warmup + horizons[0] + 1].mean())
            per = {kind: [r.seconds for r in h.records if r.kind == kind] for kind in ("surrogate", "solver")}
            entry.update(surrogate_steps=kinds.count("surrogate"), solver_steps=kinds.count("solver"),
                         fallbacks=sum(r.fell_back for r in h.records),
                         **{f"mean_{kind}_step_s": float(np.mean(v)) if v else None for kind, v in per.items()})
        row[name] = entry
    return row


# ---------------------------------------------------------------- scaling and crossover
def fit_power(res, cost) -> dict:
    """Least-squares ``cost = a N^p`` in log-log space."""
    p, log_a = np.polyfit(np.log(np.asarray(res, float)), np.log(np.asarray(cost, float)), 1)
    return {"a": float(np.exp(log_a)), "p": float(p)}


def crossover(res, solver_cost, hybrid_cost, fit_points: int = 3) -> dict:
    """The resolution above which the hybrid is cheaper than the solver.

    ``measured``: the sweep brackets it (interpolated in log-log between the two bracketing points);
    ``below_sweep``: the hybrid is already cheaper at the smallest resolution measured;
    ``extrapolated``: from power laws fitted to the largest ``fit_points`` resolutions;
    ``none``: the fitted solver cost does not grow faster than the hybrid's, so no crossover.
    """
    order = np.argsort(res)
    n = np.asarray(res, float)[order]
    ls, lh = np.log(np.asarray(solver_cost, float)[order]), np.log(np.asarray(hybrid_cost, float)[order])
    top = slice(max(0, len(n) - fit_points), None)
    fits = {"solver": fit_power(n[top], np.exp(ls[top])), "hybrid": fit_power(n[top], np.exp(lh[top]))} \
        if len(n) >= 2 else {}
    out = {"fit_resolutions": [int(v) for v in n[top]], "fits": fits}
    d = lh - ls  # > 0: the hybrid costs more
    if d[0] < 0:
        return {**out, "kind": "below_sweep", "resolution": float(n[0])}
    for i in range(1, len(n)):
        if d[i - 1] >= 0 > d[i]:
            ln = np.log(n[i - 1]) + d[i - 1] / (d[i - 1] - d[i]) * (np.log(n[i]) - np.log(n[i - 1]))
            return {**out, "kind": "measured", "resolution": float(np.exp(ln))}
    if not fits or fits["solver"]["p"] <= fits["hybrid"]["p"]:
        return {**out, "kind": "none", "resolution": None}
    s, h = fits["solver"], fits["hybrid"]
    return {**out, "kind": "extrapolated", "resolution": float((h["a"] / s["a"]) ** (1.0 / (s["p"] - h["p"])))}


# ---------------------------------------------------------------- fine-tuning on each code's data
@dataclass(frozen=True)
class FinetunePlan:
    resolutions: tuple = (32, 64, 128)
    n_traj: int = 8           # per resolution, split 80/10/10 (only the training split is used)
    frames: int = 40
    epochs: int = 4
    steps_per_epoch: int = 60
    batch: int = 4
    lr: float = 5e-4


def write_code_data(code: Code, res: int, plan: FinetunePlan, seed: int, out: Path, history: int) -> Path:
    """Trajectories of the code alone from training initial conditions, as a Well dataset under ``out``."""
    from walrus.atomic import atomic_path
    from walrus.data.generators.pipeline import split_trajectories
    from walrus.io import write_dataset_stats, write_well_file
    from walrus_adapters import HybridPolicy

    trajs, layout = [], None
    for k in range(plan.n_traj):
        h = code.build(res, code_rng(seed, TRAIN_STREAM, k), Persistence(history), HybridPolicy(1, 0), False)
        layout = h.layout
        frames = [h.coupling.read()]
        for i in range(plan.frames - 1):
            h.coupling.advance(i * code.dt, code.dt)
            frames.append(h.coupling.read())
        trajs.append(frames)
    fields = {name: np.stack([np.stack([f[name] for f in t]) for t in trajs]) for name in layout.units}
    for split, idx in split_trajectories(plan.n_traj).items():
        path = out / "data" / split / f"{code.name}.hdf5"
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            write_well_file(tmp, dataset_name=code.name, dimensions=layout.coords,
                            time=np.arange(plan.frames) * code.dt, fields={n: v[idx] for n, v in fields.items()},
                            boundary_conditions=layout.boundaries, units=dict(layout.units))
    write_dataset_stats(out)
    return out


def finetuned(code: Code, plan: FinetunePlan, seed: int, runs_dir: Path, quiet: bool) -> tuple[Path, dict]:
    """The shipped model fine-tuned on ``code``'s data (cached: a rerun with the same plan and the same
    shipped weights reuses it)."""
    import walrus
    from walrus.commands.quickstart import FULL, _finetune
    from walrus.model.checkpoint import save_checkpoint
    from walrus.model.pretrained import SHIPPED

    import hashlib

    # a changed set-up or new shipped weights is a new cache
    shipped = SHIPPED["walrus-mini"].sha256
    setup = hashlib.sha256(f"{code.describe} {code.dt!r} {shipped}".encode()).hexdigest()[:8]
    tag = f"{code.name}_{setup}_seed{seed}_" + "_".join(f"{k}{v}" for k, v in dataclasses.asdict(plan).items()
                                                 if k != "resolutions") + "_res" + "-".join(map(str, plan.resolutions))
    root = runs_dir / tag
    model_path, record_path = root / "model.safetensors", root / "finetune.json"
    if model_path.is_file() and record_path.is_file():
        return model_path, {**json.loads(record_path.read_text()), "cached": True}
    init = walrus.get_model("walrus-mini", weights="pretrained", dtype=torch.float32)
    t0 = time.perf_counter()
    entries = [{"name": code.name, "path": str(write_code_data(code, r, plan, seed, root / f"data_{r}",
                                                                init.config.history_2d))}
               for r in plan.resolutions]
    generate_s = time.perf_counter() - t0
    init_path = save_checkpoint(init, root / "init.safetensors", metadata={"source": "shipped walrus-mini"})
    qs_plan = dataclasses.replace(FULL, epochs=plan.epochs, steps_per_epoch=plan.steps_per_epoch, batch=plan.batch,
                                  lr=plan.lr, warmup_epochs=int(plan.epochs >= 3),
                                  cooldown_epochs=int(plan.epochs >= 3))
    record = _finetune(Path(entries[0]["path"]), root / "train", init_path, model_path, qs_plan, seed,
                       progress=not quiet, datasets=entries)
    init_path.unlink()
    record = {**record, "init_weights_sha256": shipped, "generate_seconds": generate_s, "plan": dataclasses.asdict(plan),
              "train_streams": f"rng([seed, {TRAIN_STREAM} + k]), k < {plan.n_traj}",
              "eval_stream": f"rng([seed, {EVAL_STREAM}])"}
    from walrus.atomic import atomic_path

    with atomic_path(record_path) as tmp:
        tmp.write_text(json.dumps(record, indent=2))
    return model_path, {**record, "cached": False}


# ---------------------------------------------------------------- report
def pays_off(rows: list[dict], cross: dict, horizon: int, limit: float = 0.1) -> dict:
    """Resolutions measured where the hybrid is cheaper than the solver, and whether its VRMSE there is within ``limit``."""
    cheaper = [r for r in rows if r["hybrid"]["seconds_per_time_unit"] < r["solver"]["seconds_per_time_unit"]]
    ok = [r["res"] for r in cheaper if r["hybrid"][f"vrmse_step{horizon}"] <= limit]
    return {"cheaper_at": [r["res"] for r in cheaper], f"cheaper_and_vrmse_step{horizon}_le_{limit}": ok,
            "met": bool(ok), "crossover": cross}


def plot(result: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from walrus.atomic import atomic_path

    codes = list(result["codes"])
    h10 = result["horizons"][0]
    cols = min(2, len(codes))
    rows_n = -(-len(codes) // cols)
    fig, axes = plt.subplots(rows_n, cols, figsize=(6.2 * cols, 4.6 * rows_n), squeeze=False)
    for ax in axes.flat[len(codes):]:
        ax.set_visible(False)
    for ax, code in zip(axes.flat, codes):
        rows = sorted((r for r in result["results"] if r["code"] == code), key=lambda r: r["res"])
        n = np.array([r["res"] for r in rows], float)
        for name, style in (("solver", "k-o"), ("hybrid", "C1-s"), ("surrogate", "C0-^")):
            cost = [r[name]["seconds_per_time_unit"] for r in rows]
            ax.plot(n, cost, style, label=name)
            if name != "solver":
                for x, y, r in zip(n, cost, rows):
                    fb = f" ({r[name]['fallbacks']} fallbacks)" if r[name]["fallbacks"] else ""
                    ax.annotate(f"{r[name][f'vrmse_step{h10}']:.2f}{fb}", (x, y), textcoords="offset points",
                                xytext=(4, -11 if name == "surrogate" else 5), fontsize=7, color=style[:2])
        cross = result["summary"][code]["crossover"]
        grid = np.geomspace(n.min(), max(n.max(), (cross["resolution"] or 0) * 1.3), 50)
        for name, color in (("solver", "k"), ("hybrid", "C1")):
            f = cross["fits"].get(name)
            if f:
                ax.plot(grid, f["a"] * grid ** f["p"], ":", color=color, lw=0.8,
                        label=f"{name} fit N^{f['p']:.2f}")
        if cross["resolution"]:
            ax.axvline(cross["resolution"], color="C3", ls="-" if cross["kind"] == "measured" else "--", lw=1)
            ax.text(cross["resolution"], ax.get_ylim()[1], f" crossover {cross['resolution']:.0f}\n ({cross['kind']})",
                    va="top", fontsize=8, color="C3")
        ax.set_xscale("log", base=2)
        ax.set_xticks(n, [str(int(v)) for v in n])
        ax.set_yscale("log")
        ax.set_xlabel("grid N (N x N)")
        ax.set_ylabel("wall seconds per simulated time unit")
        pers = ", ".join(f"{r['persistence'][f'vrmse_step{h10}']:.2f}" for r in rows)
        ax.set_title(f"{code}\nnumbers: VRMSE {h10} steps after warm-up (persistence: {pers})", fontsize=9)
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(f"surrogate vs solver, {result['machine']['threads']} torch threads, "
                 f"hybrid k={result['policy']['k']}/m={result['policy']['m']}", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)
    return path


def markdown(result: dict) -> str:
    """The docs table: per code and resolution, cost per simulated time unit and VRMSE after the horizons."""
    hs = result["horizons"]
    head = ("| code | N | s per time unit: solver / hybrid / surrogate | VRMSE@" + "/@".join(map(str, hs))
            + ": hybrid | surrogate | persistence | fallbacks |")
    lines = [head, "| --- | ---: | --- | --- | --- | --- | ---: |"]
    for r in result["results"]:
        v = {n: " / ".join(f"{r[n][f'vrmse_step{h}']:.3f}" for h in hs) for n in ("hybrid", "surrogate", "persistence")}
        lines.append(f"| {r['code']} | {r['res']} | {r['solver']['seconds_per_time_unit']:.3g} / "
                     f"{r['hybrid']['seconds_per_time_unit']:.3g} / {r['surrogate']['seconds_per_time_unit']:.3g} | "
                     f"{v['hybrid']} | {v['surrogate']} | {v['persistence']} | {r['hybrid']['fallbacks']} |")
    lines += ["", "| code | crossover N (hybrid cheaper above) | fitted solver / hybrid cost | fine-tune |",
              "| --- | --- | --- | --- |"]
    for code, summ in result["summary"].items():
        c = summ["crossover"]
        where = "-" if c["resolution"] is None else f"{c['resolution']:.0f}"
        fits = " / ".join(f"N^{c['fits'][k]['p']:.2f}" for k in ("solver", "hybrid")) if c["fits"] else "-"
        ft = result["finetunes"][code]
        took = f"{ft['steps']} steps, {ft['seconds']:.0f} s" if "seconds" in ft else ft.get("checkpoint", "-")
        lines.append(f"| {code} | {where} ({c['kind']}) | {fits} | {took} |")
    return "\n".join(lines)


def machine() -> dict:
    return dict(python=platform.python_version(), torch=torch.__version__, cpu=platform.processor() or platform.machine(),
                cpu_count=os.cpu_count(), threads=torch.get_num_threads(), platform=platform.platform(),
                omp_num_threads=os.environ.get("OMP_NUM_THREADS"))


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codes", nargs="+", default=["pypde_diffusion", "pyclaw_shallow_water", "scipy_acoustics",
                                                          "dedalus_tracer"])
    parser.add_argument("--res", type=int, nargs="+", default=[32, 64, 128, 256])
    parser.add_argument("--horizons", type=int, nargs="+", default=[10, 30], help="steps after warm-up scored")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--k", type=int, default=1)
    parser.add_argument("--m", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint", default=None,
                        help="use this model for every code instead of fine-tuning the shipped one")
    parser.add_argument("--finetune-res", type=int, nargs="+", default=list(FinetunePlan.resolutions))
    parser.add_argument("--finetune-steps", type=int, default=FinetunePlan.epochs * FinetunePlan.steps_per_epoch,
                        help="optimizer steps of each fine-tune (4 epochs)")
    parser.add_argument("--finetune-only", action="store_true", help="fine-tune (or find cached) and stop")
    parser.add_argument("--runs-dir", type=Path, default=ROOT / "runs" / "surrogate_vs_solver")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=RESULTS / "surrogate_vs_solver_cpu.json")
    parser.add_argument("--plot", type=Path, default=ROOT / "docs" / "surrogate_vs_solver.png")
    add_quiet(parser)
    args = parser.parse_args(argv)
    codes = _codes()
    unknown = [c for c in args.codes if c not in codes]
    if unknown:
        parser.error(f"--codes: unknown {unknown}; expected some of {sorted(codes)}")
    if args.repeats < 1 or min(args.horizons) < 1 or min(args.res) < 8:
        parser.error("--repeats and --horizons must be >= 1 and --res >= 8")
    horizons = sorted(set(args.horizons))

    from walrus.model.checkpoint import load_checkpoint

    plan = FinetunePlan(resolutions=tuple(args.finetune_res), epochs=4,
                        steps_per_epoch=max(1, args.finetune_steps // 4))
    models, finetunes = {}, {}
    for name in args.codes:
        if args.checkpoint:
            path, finetunes[name] = Path(args.checkpoint), {"checkpoint": args.checkpoint}
        else:
            say(f"fine-tune on {name} (cached under {args.runs_dir})")
            mine = dataclasses.replace(plan, resolutions=tuple(r for r in plan.resolutions
                                                               if r <= codes[name].max_finetune_res))
            path, finetunes[name] = finetuned(codes[name], mine, args.seed, args.runs_dir, args.quiet)
            say(f"  {path}: {finetunes[name]['seconds']:.0f} s training, {finetunes[name]['generate_seconds']:.0f} s "
                f"data{' (cached)' if finetunes[name]['cached'] else ''}")
        # load_checkpoint, not get_model: load_any takes a safetensors file whose header length ends in byte 0x80
        # for a pickled torch file (reported to the lead; walrus/model is not this benchmark's to edit)
        models[name] = load_checkpoint(path, args.device, torch.float32).eval()
    if args.finetune_only:
        return {"finetunes": finetunes}

    rows = []
    for name, res in progress([(c, r) for c in args.codes for r in args.res if r <= codes[c].max_res],
                              desc="surrogate_vs_solver",
                              quiet=args.quiet):
        row = measure(codes[name], res, model=models[name], seed=args.seed, k=args.k, m=args.m, horizons=horizons,
                      repeats=args.repeats)
        rows.append(row)
        h = horizons[0]
        say(f"{name:<22} {res:>4}^2  s/time unit: solver {row['solver']['seconds_per_time_unit']:.4g}  "
            f"hybrid {row['hybrid']['seconds_per_time_unit']:.4g}  surrogate {row['surrogate']['seconds_per_time_unit']:.4g}"
            f"  | VRMSE@{h}: hybrid {row['hybrid'][f'vrmse_step{h}']:.3g}  surrogate "
            f"{row['surrogate'][f'vrmse_step{h}']:.3g}  persistence {row['persistence'][f'vrmse_step{h}']:.3g}"
            f"  | fallbacks {row['hybrid']['fallbacks']}")
    summary = {}
    for name in args.codes:
        mine = [r for r in rows if r["code"] == name]
        cross = crossover([r["res"] for r in mine], [r["solver"]["seconds_per_time_unit"] for r in mine],
                          [r["hybrid"]["seconds_per_time_unit"] for r in mine])
        summary[name] = pays_off(mine, cross, horizons[0])
        res_txt = "-" if cross["resolution"] is None else f"{cross['resolution']:.0f}"
        say(f"{name}: hybrid cheaper than the solver above N = {res_txt} ({cross['kind']}); "
            f"cheaper with VRMSE@{horizons[0]} <= 0.1 at {summary[name]['cheaper_and_vrmse_step' + str(horizons[0]) + '_le_0.1']}")
    result = dict(benchmark="surrogate_vs_solver", date=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                  command=" ".join(["python", "bench/surrogate_vs_solver.py", *(sys.argv[1:] if argv is None else argv)]),
                  device=args.device, machine=dict(machine(), gpu=torch.cuda.get_device_name(0)
                                                   if args.device.startswith("cuda") else None),
                  repeats=args.repeats, horizons=horizons, policy={"k": args.k, "m": args.m}, seed=args.seed,
                  codes={n: {"setup": codes[n].describe, "dt": codes[n].dt, "max_res": codes[n].max_res}
                         for n in args.codes},
                  model=("checkpoint " + args.checkpoint) if args.checkpoint else
                  "shipped walrus-mini (pretrained) fine-tuned per code", finetunes=finetunes,
                  summary=summary, codes_paying_off=[n for n in args.codes if summary[n]["met"]], results=rows)
    from walrus.atomic import atomic_path

    args.out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(args.out) as tmp:
        tmp.write_text(json.dumps(result, indent=2))
    say(f"wrote {args.out} and {plot(result, args.plot)}\n\n{markdown(result)}")
    return result


if __name__ == "__main__":
    main()
