"""`walrus quickstart`: the whole loop on a laptop, from a real solver's data to a hybrid run.

1. generate a small shallow-water dataset with PyClaw (a real finite-volume code);
2. train walrus-tiny on it for a few minutes of CPU;
3. run PyClaw on an unseen initial condition twice: alone, and with the surrogate swapped in
   for some output intervals through `walrus_adapters.pyclaw.PyClawHybrid` (k surrogate steps,
   m solver steps, a drift guard on water volume and depth that falls back to the solver);
4. report VRMSE of the hybrid run against the solver-only run and the wall time per simulated
   second of each, and write netCDF, a PNG and a GIF a person can look at.

Everything stays on CPU and is sized to finish in a few minutes on 2 cores (`fast=True`: well
under a minute, for tests; the numbers are then only a smoke test).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from walrus.atomic import atomic_path

DATASET = "shallow_water_pyclaw"


@dataclass(frozen=True)
class Plan:
    n_traj: int
    res: int
    steps: int          # frames per generated trajectory
    epochs: int
    steps_per_epoch: int
    rollout: int        # hybrid intervals after the initial frame
    k: int
    m: int
    lr: float = 1e-3    # the release's schedule runs epoch 0 at a tenth of it (warm-up), later epochs at ~lr


FULL = Plan(n_traj=8, res=16, steps=40, epochs=8, steps_per_epoch=100, rollout=30, k=1, m=2)
FAST = Plan(n_traj=3, res=16, steps=10, epochs=1, steps_per_epoch=2, rollout=9, k=1, m=1)


def _solver(res: int, seed: int):
    """PyClaw's shallow-water solver, set up as the generator does, on an unseen initial condition."""
    from walrus.data.generators.shallow_water import make_solver

    return make_solver(res, np.random.default_rng([seed, 10_000]))  # not one of the training draws


def _train(data_dir: Path, out: Path, plan: Plan, seed: int, progress: bool = False) -> tuple[Path, list[float]]:
    import shutil

    from walrus.train import TrainConfig
    from walrus.train.trainer import Trainer

    shutil.rmtree(out / "train", ignore_errors=True)  # the trainer would resume a previous quickstart's run
    cfg = TrainConfig(datasets=[{"name": DATASET, "path": str(data_dir)}], out_dir=str(out / "train"),
                      preset="walrus-tiny", epochs=plan.epochs, steps_per_epoch=plan.steps_per_epoch, warmup_epochs=0,
                      cooldown_epochs=0, validate_every=0, lr=plan.lr, history_2d=6, max_dt_stride=1,
                      progress=progress, seed=seed)
    trainer = Trainer(cfg)
    losses = trainer.fit()
    path = trainer.export(out / "model.safetensors")
    trainer.close()
    return path, losses


def _stack(frames: list[dict]) -> np.ndarray:
    """(T, x, y, 3): height and the two velocity components, channels last (for VRMSE)."""
    return np.stack([np.concatenate([f["height"][..., None], f["velocity"]], axis=-1) for f in frames])


def run(out: Path, seed: int = 0, echo: Callable[[str], None] = print, *, fast: bool = False,
        checkpoint: Path | None = None, quiet: bool = True) -> dict:
    """Run the quickstart into ``out``; returns the figures it printed (and writes them to summary.json).

    ``checkpoint`` skips generation and training and uses that model instead. ``quiet=False``
    shows a progress bar (rate, ETA) on stderr for each stage; the printed summary is the same.
    """
    check_args(out=out, seed=seed, checkpoint=checkpoint)
    return _run(Path(out), seed, echo, fast=fast, checkpoint=checkpoint, quiet=quiet)


def check_args(*, out: Path, seed: int, checkpoint: Path | None = None) -> None:
    """Refuse bad quickstart arguments with a `ConfigError` naming the option, before any work."""
    from walrus.errors import ConfigError

    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2 ** 31:
        raise ConfigError(field="--seed", expected="an integer in [0, 2**31)", received=repr(seed))
    if Path(out).exists() and not Path(out).is_dir():
        raise ConfigError("--out is not a directory", field="--out",
                          expected="a directory for data, model and figures (created if missing)",
                          received=f"{out} (an existing file)")
    if checkpoint is not None and not Path(checkpoint).is_file():
        raise ConfigError("checkpoint not found", field="checkpoint", expected="an existing model file",
                          received=str(checkpoint))


def _run(out: Path, seed: int, echo: Callable[[str], None], *, fast: bool, checkpoint: Path | None,
         quiet: bool = True) -> dict:
    """The quickstart itself (arguments already checked)."""
    import torch
    from tqdm.auto import tqdm

    from walrus.data.generators.shallow_water import COORD_UNITS, DT_OUT, UNITS
    from walrus.surrogate import Surrogate
    from walrus_adapters.guard import DriftGuard
    from walrus_adapters.hybrid import SURROGATE, HybridPolicy
    from walrus_adapters.pyclaw import QMAPS, PyClawHybrid

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    plan = FAST if fast else FULL
    torch.manual_seed(seed)
    t_all = time.perf_counter()
    summary: dict = {"plan": plan.__dict__, "seed": seed, "dataset": DATASET}

    # 1-2. data and a briefly trained model
    if checkpoint is None:
        from walrus.data.generators.pipeline import generate_dataset

        t0 = time.perf_counter()
        data_dir = generate_dataset(DATASET, out / "data", n_traj=plan.n_traj, res=plan.res, steps=plan.steps,
                                    seed=seed, progress=not quiet)
        summary["generate_seconds"] = time.perf_counter() - t0
        echo(f"[1/4] PyClaw shallow water: {plan.n_traj} trajectories x {plan.steps} frames of "
             f"{plan.res}x{plan.res} in {summary['generate_seconds']:.1f} s -> {data_dir}")
        t0 = time.perf_counter()
        checkpoint, losses = _train(data_dir, out, plan, seed, progress=not quiet)
        summary["train_seconds"] = time.perf_counter() - t0
        summary["train_loss_first_last"] = [float(np.mean(losses[:10])), float(np.mean(losses[-10:]))]
        echo(f"[2/4] trained walrus-tiny for {plan.epochs * plan.steps_per_epoch} steps in {summary['train_seconds']:.1f} s "
             f"(loss {summary['train_loss_first_last'][0]:.3g} -> {summary['train_loss_first_last'][1]:.3g}) "
             f"-> {checkpoint}")
    else:
        echo(f"[1-2/4] using the model {checkpoint}")
    summary["checkpoint"] = str(checkpoint)

    # 3. the same unseen initial condition, solver alone and hybrid
    solver, solution = _solver(plan.res, seed)
    qmap = QMAPS["shallow_water"]
    solver_frames = [qmap.to_fields(np.array(solution.state.q))]
    t0 = time.perf_counter()
    for i in tqdm(range(plan.rollout), desc="solver run", unit="step", disable=quiet, dynamic_ncols=True):
        solver.evolve_to_time(solution, (i + 1) * DT_OUT)
        solver_frames.append({k: np.array(v) for k, v in qmap.to_fields(np.array(solution.state.q)).items()})
    solver_seconds = time.perf_counter() - t0

    surrogate = Surrogate.from_pretrained(str(checkpoint), seed=seed)
    solver, solution = _solver(plan.res, seed)
    guard = DriftGuard(conserved={"height": 1e-3}, bounds={"height": (0.0, None)})
    hybrid = PyClawHybrid(solver, solution, surrogate, physics="shallow_water", units=UNITS, coord_units=COORD_UNITS,
                          dt=DT_OUT, policy=HybridPolicy(k=plan.k, m=plan.m), guard=guard)
    hybrid_frames = [hybrid.coupling.read()]
    t0 = time.perf_counter()
    for _ in tqdm(range(plan.rollout), desc="hybrid run", unit="step", disable=quiet, dynamic_ncols=True):
        hybrid.step()
        hybrid_frames.append(hybrid.frame())
    hybrid_seconds = time.perf_counter() - t0
    sim_time = plan.rollout * DT_OUT
    kinds = [r.kind for r in hybrid.records]
    counts = hybrid.summary()
    echo(f"[3/4] {plan.rollout} intervals of {DT_OUT:.4g} s on an unseen initial condition: policy k={plan.k} "
         f"surrogate / m={plan.m} solver after {hybrid.warmup} warm-up solver steps; "
         f"{counts['surrogate']} surrogate, {counts['solver']} solver steps, {counts['fallbacks']} fallbacks")
    for reason, n in counts["fallback_reasons"].items():
        echo(f"      {n} x {reason}")

    # VRMSE of the hybrid against the solver-only run, per frame and field
    from walrus.metrics import vrmse

    truth, pred = _stack(solver_frames), _stack(hybrid_frames)
    err = vrmse(torch.from_numpy(pred), torch.from_numpy(truth), 2).numpy()  # (T, 3)
    after = slice(hybrid.warmup + 1, None)  # frames after warm-up (before: identical by construction)
    channels = ["height", "velocity_x", "velocity_y"]
    summary["vrmse_mean_after_warmup"] = {c: float(err[after, i].mean()) for i, c in enumerate(channels)}
    summary["vrmse_final"] = {c: float(err[-1, i]) for i, c in enumerate(channels)}
    summary["seconds_per_simulated_second"] = {"solver": solver_seconds / sim_time, "hybrid": hybrid_seconds / sim_time}
    summary["steps"] = counts
    echo(f"      VRMSE hybrid vs solver (mean after warm-up / final frame): "
         + ", ".join(f"{c} {summary['vrmse_mean_after_warmup'][c]:.3g} / {summary['vrmse_final'][c]:.3g}"
                     for c in channels))
    echo(f"      wall time per simulated second: solver {solver_seconds / sim_time:.3g} s, "
         f"hybrid {hybrid_seconds / sim_time:.3g} s (CPU; at {plan.res}x{plan.res} PyClaw is cheap and "
         f"the surrogate is not: the point here is the coupling, not the speed)")

    # 4. files
    paths = _write_outputs(out, hybrid, solver_frames, hybrid_frames, kinds, err, channels, SURROGATE,
                           progress=not quiet)
    summary["files"] = {k: str(v) for k, v in paths.items()}
    summary["total_seconds"] = time.perf_counter() - t_all
    with atomic_path(out / "summary.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2))
    echo(f"[4/4] wrote " + ", ".join(str(p) for p in paths.values()) + f", {out / 'summary.json'}")
    echo(f"done in {summary['total_seconds']:.1f} s")
    return summary


def _write_outputs(out: Path, hybrid, solver_frames, hybrid_frames, kinds, err, channels, surrogate_kind,
                   progress: bool = False) -> dict:
    from walrus.plot import animate_rollout

    times = np.arange(len(solver_frames)) * hybrid.dt
    layout = hybrid.layout  # the solver's units, axis and time units included (shallow_water.UNITS, COORD_UNITS)
    paths, datasets = write_rollouts(out, layout.state(solver_frames, times), layout.state(hybrid_frames, times),
                                     kinds, surrogate_kind)
    paths["png"] = _png(out / "comparison.png", times, solver_frames, hybrid_frames, kinds, err, channels,
                        surrogate_kind)
    paths["gif"] = animate_rollout(*datasets, out / "comparison.gif", fields=["height"], progress=progress).path
    return paths


def write_rollouts(out: Path, solver, hybrid, kinds, surrogate_kind) -> tuple[dict, tuple]:
    """Write the solver-only and the hybrid run (two `State`s over the same times) as ``solver.nc`` and
    ``hybrid.nc``; the hybrid gets a ``step_kind`` flag per frame (0 solver, 1 surrogate; the first
    frame is the initial condition). Returns ``({"solver_nc": path, "hybrid_nc": path}, (ds, ds))``,
    the input of `walrus plot` / :func:`walrus.plot.animate_rollout`."""
    from walrus.io.xr import to_netcdf

    paths, datasets = {}, []
    for name, state in (("solver", solver), ("hybrid", hybrid)):
        ds = state.to_dataset()
        if name == "hybrid":
            flags = np.array([0] + [1 if k == surrogate_kind else 0 for k in kinds], dtype=np.int8)
            ds["step_kind"] = ("time", flags, {"flag_values": np.array([0, 1], dtype=np.int8),
                                               "flag_meanings": "solver surrogate",
                                               "long_name": "what computed the frame"})
        ds.attrs["title"] = f"walrus quickstart: shallow water, {name} run"
        paths[f"{name}_nc"] = to_netcdf(ds, out / f"{name}.nc")
        datasets.append(ds)
    return paths, tuple(datasets)


def _png(path, times, solver_frames, hybrid_frames, kinds, err, channels, surrogate_kind) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    h_s, h_h = solver_frames[-1]["height"], hybrid_frames[-1]["height"]
    lo, hi = min(h_s.min(), h_h.min()), max(h_s.max(), h_h.max())
    fig = plt.figure(figsize=(12, 7.5))
    grid = fig.add_gridspec(2, 3, height_ratios=[1.1, 1])
    for col, (title, img, kw) in enumerate((("solver (PyClaw)", h_s, dict(vmin=lo, vmax=hi, cmap="viridis")),
                                            ("hybrid (PyClaw + walrus)", h_h, dict(vmin=lo, vmax=hi, cmap="viridis")),
                                            ("hybrid - solver", h_h - h_s, dict(cmap="RdBu_r")))):
        ax = fig.add_subplot(grid[0, col])
        im = ax.imshow(img.T, origin="lower", extent=(0, 10, 0, 10), **kw)
        ax.set_title(f"{title}\nheight [m] at t = {times[-1]:.2f} s")
        ax.set_xlabel("x [m]")
        ax.set_ylabel("y [m]")
        fig.colorbar(im, ax=ax, shrink=0.8)
    ax = fig.add_subplot(grid[1, :])
    for i, c in enumerate(channels):
        ax.plot(times, err[:, i], marker=".", label=c)
    for t, kind in zip(times[1:], kinds):
        if kind == surrogate_kind:
            ax.axvspan(t - (times[1] - times[0]) / 2, t + (times[1] - times[0]) / 2, color="orange", alpha=0.15, lw=0)
    ax.set_xlabel("time [s]")
    ax.set_ylabel("VRMSE vs solver")
    ax.set_title("VRMSE of the hybrid run against the solver-only run (shaded: frames from the surrogate)")
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return path
