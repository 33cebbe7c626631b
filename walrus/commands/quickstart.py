"""`walrus quickstart`: the shipped pretrained model, fine-tuned on a real solver's data, inside that solver.

1. generate a small shallow-water dataset with PyClaw (a real finite-volume code), and a few
   held-out trajectories from a generator seed that no training run uses;
2. fine-tune the pretrained walrus-mini shipped in the package (`walrus.model.pretrained`) on it
   briefly, and, with the identical recipe (steps, schedule, batch, lr, seed, data), the same
   architecture from random weights: the second run is what pretraining is measured against;
3. score on the held-out windows, with the shared scorer (`walrus.train.evaluation`): persistence,
   the pretrained model as shipped (zero-shot), and both fine-tunes; one-step VRMSE and the mean
   over rollout steps 1-10;
4. run PyClaw on an unseen initial condition twice: alone, and with the pretrained + fine-tuned
   surrogate swapped in for some output intervals through `walrus_adapters.pyclaw.PyClawHybrid`
   (k surrogate steps, m solver steps, a drift guard on water volume and depth that falls back to
   the solver), and report the VRMSE of the hybrid run against the solver-only run and the wall
   time per simulated second of each;
5. write netCDF, a PNG and a GIF a person can look at, and summary.json with every figure printed.

The data are 32x32, a resolution the shipped model was pretrained on (its corpus holds shallow
water at 32² and 64², examples/configs/pretrain_corpus.yaml); at 16² the patch strides would be
ones it never saw. With the default seed (0) the fine-tune data are the first 8 trajectories of that
corpus's 32² shallow-water entry (generators draw trajectory k from (seed, k)), so they are not
new to the pretrained model; the held-out trajectories are new to both models. Everything stays on CPU: the full run is sized to finish well
inside 15 minutes on 2 cores, almost all of it the two fine-tunes of 400 steps (about 0.6 s a step
or less; `fast=True`: well under a minute, for tests; the numbers are then only a smoke test).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from walrus.atomic import atomic_path

DATASET = "shallow_water_pyclaw"
#: generator seed of the held-out trajectories: used by no training run (bench/accuracy.py's HELDOUT_SEED)
HELDOUT_SEED = 20_261_129
#: the two fine-tunes: from the given (default: shipped) weights, and from random weights of the same architecture
RUNS = ("pretrained", "random_init")
#: rows of the held-out table, in print order
MODELS = {"persistence": "persistence", "zero_shot": "pretrained, no fine-tune",
          "pretrained_finetuned": "pretrained + fine-tune", "random_init_finetuned": "random init + fine-tune"}


@dataclass(frozen=True)
class Plan:
    n_traj: int
    res: int
    steps: int             # frames per generated trajectory
    epochs: int
    steps_per_epoch: int
    batch: int
    lr: float              # peak; epoch 0 runs at a tenth of it (warm-up), the last `cooldown_epochs` ramp down
    warmup_epochs: int
    cooldown_epochs: int
    heldout_traj: int
    heldout_steps: int     # frames per held-out trajectory (history + eval_rollout at least)
    heldout_windows: int
    eval_rollout: int      # rollout steps scored on each held-out window
    rollout: int           # hybrid intervals after the initial frame
    k: int
    m: int


FULL = Plan(n_traj=8, res=32, steps=40, epochs=8, steps_per_epoch=50, batch=4, lr=5e-4, warmup_epochs=1,
            cooldown_epochs=2, heldout_traj=3, heldout_steps=24, heldout_windows=6, eval_rollout=10,
            rollout=30, k=1, m=2)
FAST = Plan(n_traj=3, res=32, steps=10, epochs=1, steps_per_epoch=2, batch=2, lr=5e-4, warmup_epochs=0,
            cooldown_epochs=0, heldout_traj=3, heldout_steps=8, heldout_windows=2, eval_rollout=2,
            rollout=9, k=1, m=1)


def _solver(res: int, seed: int):
    """PyClaw's shallow-water solver, set up as the generator does, on an unseen initial condition."""
    from walrus.data.generators.shallow_water import make_solver

    return make_solver(res, np.random.default_rng([seed, 10_000]))  # not one of the training draws


def _init_files(init_from: Path, out: Path, seed: int) -> tuple[dict[str, Path], object]:
    """The two starting points as checkpoint files, so both fine-tunes start the same way: the
    given weights and random weights of the same architecture and vocabulary, drawn after
    ``torch.manual_seed(seed)``."""
    import torch

    import walrus
    from walrus.model.checkpoint import save_checkpoint

    pretrained = walrus.get_model(str(init_from), dtype=torch.float32)
    torch.manual_seed(seed)
    random = walrus.Walrus(pretrained.config)
    paths = {}
    for name, model in zip(RUNS, (pretrained, random)):
        paths[name] = save_checkpoint(model, out / "init" / f"{name}.safetensors",
                                      metadata={"quickstart_init": name, "source": str(init_from)})
    return paths, pretrained


def _finetune(data_dir: Path, out_dir: Path, init: Path, export: Path, plan: Plan, seed: int, progress: bool,
              datasets: list[dict] | None = None) -> dict:
    """One fine-tune; the record holds its recipe (the config but where it starts and writes) and a
    sha256 of the weights it started from, so two runs can be compared. Only the exported model and
    the training log stay (the training checkpoint, weights and optimizer state, is removed).
    ``datasets`` (TrainConfig entries) replaces the quickstart's one dataset at ``data_dir``."""
    from walrus.model.checkpoint import content_sha256
    from walrus.train import TrainConfig
    from walrus.train.trainer import Trainer

    shutil.rmtree(out_dir, ignore_errors=True)  # the trainer would resume a previous quickstart's run
    total = plan.epochs * plan.steps_per_epoch
    cfg = TrainConfig(datasets=datasets or [{"name": DATASET, "path": str(data_dir)}], out_dir=str(out_dir), preset="walrus-mini",
                      init_from=str(init), epochs=plan.epochs, steps_per_epoch=plan.steps_per_epoch,
                      batch_size_2d=plan.batch, lr=plan.lr, warmup_epochs=plan.warmup_epochs,
                      cooldown_epochs=plan.cooldown_epochs, max_dt_stride=1, validate_every=0,
                      checkpoint_every=total, progress=progress, seed=seed)
    trainer = Trainer(cfg)
    start = content_sha256({k: v.detach() for k, v in trainer.model.state_dict().items()})
    t0 = time.perf_counter()
    losses = trainer.fit()
    seconds = time.perf_counter() - t0
    path = trainer.export(export)
    trainer.close()
    shutil.rmtree(out_dir / "checkpoints", ignore_errors=True)
    recipe = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in ("init_from", "out_dir")}
    n = max(1, min(10, len(losses) // 4))  # loss at start and end, averaged over a few steps
    return {"init_weights_sha256": start, "steps": len(losses), "seconds": seconds,
            "loss_first_last": [float(np.mean(losses[:n])), float(np.mean(losses[-n:]))], "model": str(path),
            "recipe": recipe}


def heldout_batch(data_dir: Path, vocabulary, history: int, rollout: int, windows: int):
    """Up to `windows` windows of `history` + `rollout` frames, spread over every held-out trajectory
    and start time, as one `Batch`; and where each comes from: ``[file, trajectory, first frame]``."""
    from walrus.data.well_dataset import WellWindowDataset
    from walrus.train.batching import collate, dataset_layout
    from walrus.train.trainer import declared_transforms

    candidates = []
    for split_dir in sorted(p for p in (data_dir / "data").iterdir() if p.is_dir()):
        data = WellWindowDataset(split_dir, n_steps_input=history, n_steps_output=rollout)
        candidates += [(data, i) for i in range(len(data))]
    if not candidates:
        raise ValueError(f"held-out trajectories in {data_dir} are shorter than {history} + {rollout} frames")
    pick = np.unique(np.linspace(0, len(candidates) - 1, min(windows, len(candidates))).round().astype(int))
    chosen = [candidates[k] for k in pick]
    layout = dataset_layout(chosen[0][0], vocabulary, declared_transforms(DATASET))
    where = []
    for data, i in chosen:
        f, traj, t0 = data.locate(i)
        where.append([data.files[f].path, traj, t0])
    return collate([data[i] for data, i in chosen], layout, DATASET), where


def score(predict, batch, steps: int) -> dict:
    """Held-out VRMSE (mean over the real channels and windows): per rollout step, the first
    step, and the mean over all `steps`."""
    import torch

    from walrus.train.evaluation import rollout_vrmse

    with torch.no_grad():
        per_step = [float(v) for v in rollout_vrmse(predict, batch, steps).mean(-1)]
    return {"one_step": per_step[0], "rollout_mean": float(np.mean(per_step)), "per_step": per_step}


def _stack(frames: list[dict]) -> np.ndarray:
    """(T, x, y, 3): height and the two velocity components, channels last (for VRMSE)."""
    return np.stack([np.concatenate([f["height"][..., None], f["velocity"]], axis=-1) for f in frames])


def run(out: Path, seed: int = 0, echo: Callable[[str], None] = print, *, fast: bool = False,
        init_from: Path | None = None, quiet: bool = True) -> dict:
    """Run the quickstart into ``out``; returns the figures it printed (and writes them to summary.json).

    ``init_from`` is the checkpoint fine-tuned (default None: the pretrained walrus-mini shipped in
    the package, sha256-checked). ``quiet=False`` shows a progress bar (rate, ETA) on stderr for
    each stage; the printed summary is the same.
    """
    check_args(out=out, seed=seed, init_from=init_from)
    return _run(Path(out), seed, echo, fast=fast, init_from=None if init_from is None else Path(init_from),
                quiet=quiet)


def check_args(*, out: Path, seed: int, init_from: Path | None = None) -> None:
    """Refuse bad quickstart arguments with a `ConfigError` naming the option, before any work."""
    from walrus.errors import ConfigError

    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2 ** 31:
        raise ConfigError(field="--seed", expected="an integer in [0, 2**31)", received=repr(seed))
    if seed == HELDOUT_SEED:
        raise ConfigError("this seed draws the held-out trajectories", field="--seed",
                          expected=f"any other integer in [0, 2**31) than {HELDOUT_SEED}", received=repr(seed))
    if Path(out).exists() and not Path(out).is_dir():
        raise ConfigError("--out is not a directory", field="--out",
                          expected="a directory for data, model and figures (created if missing)",
                          received=f"{out} (an existing file)")
    if init_from is not None and not Path(init_from).is_file():
        raise ConfigError("checkpoint not found", field="--init-from",
                          expected="an existing checkpoint file (default: the shipped pretrained walrus-mini)",
                          received=str(init_from))


def _run(out: Path, seed: int, echo: Callable[[str], None], *, fast: bool, init_from: Path | None = None,
         quiet: bool = True) -> dict:
    """The quickstart itself (arguments already checked)."""
    import torch
    from tqdm.auto import tqdm

    from walrus.data.generators.pipeline import generate_dataset
    from walrus.data.generators.shallow_water import COORD_UNITS, DT_OUT, UNITS
    from walrus.model.checkpoint import load_checkpoint
    from walrus.model.pretrained import shipped_path
    from walrus.surrogate import Surrogate
    from walrus.train.evaluation import persistence_predictor, walrus_predictor
    from walrus_adapters.guard import DriftGuard
    from walrus_adapters.hybrid import SURROGATE, HybridPolicy
    from walrus_adapters.pyclaw import QMAPS, PyClawHybrid

    init_from = shipped_path() if init_from is None else Path(init_from)  # missing or corrupt: refused here
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    plan = FAST if fast else FULL
    torch.manual_seed(seed)
    t_all = time.perf_counter()
    seconds: dict[str, float] = {}
    summary: dict = {"plan": plan.__dict__, "seed": seed, "dataset": DATASET, "init_from": str(init_from)}

    # 1. data: fine-tune set and held-out trajectories
    t0 = time.perf_counter()
    data_dir = generate_dataset(DATASET, out / "data", n_traj=plan.n_traj, res=plan.res, steps=plan.steps,
                                seed=seed, progress=not quiet)
    heldout_dir = generate_dataset(DATASET, out / "heldout", n_traj=plan.heldout_traj, res=plan.res,
                                   steps=plan.heldout_steps, seed=HELDOUT_SEED, progress=not quiet)
    seconds["generate"] = time.perf_counter() - t0
    echo(f"[1/5] PyClaw shallow water at {plan.res}x{plan.res}: {plan.n_traj} trajectories x {plan.steps} frames "
         f"(seed {seed}) -> {data_dir}, {plan.heldout_traj} held-out x {plan.heldout_steps} (seed {HELDOUT_SEED}) "
         f"in {seconds['generate']:.1f} s")

    # 2. two fine-tunes, one recipe: from the pretrained weights and from random ones
    inits, pretrained = _init_files(init_from, out, seed)
    runs = {}
    for name, start in zip(RUNS, (str(init_from), f"random weights (torch.manual_seed({seed}))")):
        export = out / ("model.safetensors" if name == "pretrained" else f"model_{name}.safetensors")
        runs[name] = {"init": start, **_finetune(data_dir, out / f"finetune_{name}", inits[name], export, plan, seed,
                                                 progress=not quiet)}
        seconds[f"finetune_{name}"] = runs[name]["seconds"]
    shutil.rmtree(out / "init")  # the two starting points, for the trainer only
    summary["finetune"] = runs
    first = runs[RUNS[0]]
    echo(f"[2/5] fine-tuned walrus-mini, {first['steps']} steps of batch {plan.batch} at lr {plan.lr:g}, "
         f"seed {seed}, from")
    for name, label in zip(RUNS, (f"the pretrained weights ({init_from.name})", "random weights")):
        r = runs[name]
        echo(f"      {label}: {r['seconds']:.1f} s, loss {r['loss_first_last'][0]:.3g} -> {r['loss_first_last'][1]:.3g}"
             f" -> {r['model']}")

    # 3. held-out accuracy, every model on the same windows
    t0 = time.perf_counter()
    config = pretrained.config
    batch, where = heldout_batch(heldout_dir, config.field_names, config.history_2d, plan.eval_rollout,
                                 plan.heldout_windows)
    models = {"zero_shot": pretrained.eval(),
              "pretrained_finetuned": load_checkpoint(runs["pretrained"]["model"], dtype=torch.float32).eval(),
              "random_init_finetuned": load_checkpoint(runs["random_init"]["model"], dtype=torch.float32).eval()}
    vrmse_rows = {"persistence": score(persistence_predictor(), batch, plan.eval_rollout)}
    for name, model in models.items():
        vrmse_rows[name] = score(walrus_predictor(model, seed=seed), batch, plan.eval_rollout)
    seconds["evaluate"] = time.perf_counter() - t0
    summary["heldout"] = {"seed": HELDOUT_SEED, "dir": str(heldout_dir), "history": config.history_2d,
                          "rollout_steps": plan.eval_rollout, "windows": where}
    summary["heldout_vrmse"] = vrmse_rows
    echo(f"[3/5] held-out VRMSE ({len(where)} windows of {plan.heldout_traj} unseen trajectories, mean over "
         f"height and velocity): one step / mean of steps 1-{plan.eval_rollout}")
    for name, label in MODELS.items():
        row = vrmse_rows[name]
        run_name = name[: -len("_finetuned")]
        took = f"   (fine-tune {runs[run_name]['seconds']:.0f} s)" if run_name in runs else ""
        echo(f"      {label:<26} {row['one_step']:8.4f} / {row['rollout_mean']:.4f}{took}")

    # 4. the same unseen initial condition, solver alone and hybrid (the pretrained + fine-tuned model)
    solver, solution = _solver(plan.res, seed)
    qmap = QMAPS["shallow_water"]
    solver_frames = [qmap.to_fields(np.array(solution.state.q))]
    t0 = time.perf_counter()
    for i in tqdm(range(plan.rollout), desc="solver run", unit="step", disable=quiet, dynamic_ncols=True):
        solver.evolve_to_time(solution, (i + 1) * DT_OUT)
        solver_frames.append({k: np.array(v) for k, v in qmap.to_fields(np.array(solution.state.q)).items()})
    seconds["solver_run"] = time.perf_counter() - t0

    checkpoint = runs["pretrained"]["model"]
    surrogate = Surrogate.from_pretrained(checkpoint, seed=seed)
    solver, solution = _solver(plan.res, seed)
    guard = DriftGuard(conserved={"height": 1e-3}, bounds={"height": (0.0, None)})
    hybrid = PyClawHybrid(solver, solution, surrogate, physics="shallow_water", units=UNITS, coord_units=COORD_UNITS,
                          dt=DT_OUT, policy=HybridPolicy(k=plan.k, m=plan.m), guard=guard)
    hybrid_frames = [hybrid.coupling.read()]
    t0 = time.perf_counter()
    for _ in tqdm(range(plan.rollout), desc="hybrid run", unit="step", disable=quiet, dynamic_ncols=True):
        hybrid.step()
        hybrid_frames.append(hybrid.frame())
    seconds["hybrid_run"] = time.perf_counter() - t0
    sim_time = plan.rollout * DT_OUT
    kinds = [r.kind for r in hybrid.records]
    counts = hybrid.summary()
    summary["checkpoint"] = checkpoint
    echo(f"[4/5] {plan.rollout} intervals of {DT_OUT:.4g} s on an unseen initial condition, pretrained + fine-tuned "
         f"surrogate: policy k={plan.k} surrogate / m={plan.m} solver after {hybrid.warmup} warm-up solver steps; "
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
    summary["seconds_per_simulated_second"] = {"solver": seconds["solver_run"] / sim_time,
                                               "hybrid": seconds["hybrid_run"] / sim_time}
    summary["steps"] = counts
    echo("      VRMSE hybrid vs solver (mean after warm-up / final frame): "
         + ", ".join(f"{c} {summary['vrmse_mean_after_warmup'][c]:.3g} / {summary['vrmse_final'][c]:.3g}"
                     for c in channels))
    echo(f"      wall time per simulated second: solver {seconds['solver_run'] / sim_time:.3g} s, "
         f"hybrid {seconds['hybrid_run'] / sim_time:.3g} s (CPU; at {plan.res}x{plan.res} PyClaw is cheap and "
         f"the surrogate is not: the point here is the coupling, not the speed)")

    # 5. files
    paths = _write_outputs(out, hybrid, solver_frames, hybrid_frames, kinds, err, channels, SURROGATE,
                           progress=not quiet)
    summary["files"] = {k: str(v) for k, v in paths.items()}
    seconds["total"] = time.perf_counter() - t_all
    summary["seconds"] = seconds
    with atomic_path(out / "summary.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2))
    echo("[5/5] wrote " + ", ".join(str(p) for p in paths.values()) + f", {out / 'summary.json'}")
    echo(f"done in {seconds['total']:.1f} s: generation {seconds['generate']:.1f} s, fine-tunes "
         f"{seconds['finetune_pretrained']:.1f} s (pretrained) + {seconds['finetune_random_init']:.1f} s (random init), "
         f"evaluation {seconds['evaluate']:.1f} s, solver run {seconds['solver_run']:.2f} s, "
         f"hybrid run {seconds['hybrid_run']:.2f} s")
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
