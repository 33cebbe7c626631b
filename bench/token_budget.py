"""Compute-adaptive tokenisation: seconds per predicted step against held-out VRMSE over token budgets.

One set of weights (by default the shipped, pretrained walrus-mini) predicts at several token
budgets per axis (`Walrus.forward(tokens_per_axis=k)`, `Surrogate(tokens_per_axis=k)`): fewer
tokens are cheaper, more resolve finer detail, and the budget the model was trained at (its
config's, 8 for walrus-mini) is where its weights were fitted. Accuracy comes from bench/accuracy.py's
held-out trajectories (seed HELDOUT_SEED, never trained or tuned on) and its windows, predictor and
metric (`heldout_root`, `heldout_batches`, `evaluate`, `walrus_predictor`): one-step VRMSE and
the mean over autoregressive steps 1-10. Speed is the median wall time of one prediction (one
window, batch 1) over repeats, after an untimed warm-up, on --threads CPU threads.

Budgets that give the same token grid on a system (the stride table has few pairs at small sizes)
run the same network; they are measured once and the row says which budget it shares.

    OMP_NUM_THREADS=2 python bench/token_budget.py --threads 2 --repeats 15 \
        --out bench/results/token_budget.json --plot docs/token_budget.png --docs docs/accuracy.md
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _progress import add_quiet, cases, say  # noqa: E402
from _docs_block import replace_block  # noqa: E402
from accuracy import HELDOUT_SEED, evaluate, heldout_batches, heldout_root, machine, write_json  # noqa: E402

import walrus  # noqa: E402
from walrus.data.well_dataset import WellWindowDataset  # noqa: E402
from walrus.model.network import check_tokens_per_axis  # noqa: E402
from walrus.train.config import TrainConfig  # noqa: E402
from walrus.train.evaluation import persistence_predictor, walrus_predictor  # noqa: E402
from walrus.train.trainer import window_history  # noqa: E402

DEFAULT_SYSTEMS = ["shallow_water_pyclaw@32", "euler_blast_pyclaw@32", "acoustics_inclusions_pyclaw@32",
                   "mhd_orszag_tang_dedalus@32", "shallow_water_pyclaw@64", "euler_blast_pyclaw@64",
                   "acoustics_inclusions_pyclaw@64", "euler_blast_3d_pyclaw@32"]
DEFAULT_BUDGETS = [4, 6, 8, 12, 16]
DOCS_BEGIN, DOCS_END = "<!-- token-budget:begin -->", "<!-- token-budget:end -->"


def load_model(spec: str) -> tuple[str, walrus.Walrus]:
    """'pretrained' (the model shipped in the package) or a checkpoint path, in float32, eval mode."""
    if spec == "pretrained":
        from walrus.model.pretrained import DEFAULT_PRETRAINED

        return f"{DEFAULT_PRETRAINED} (shipped, pretrained)", walrus.get_model(
            DEFAULT_PRETRAINED, weights="pretrained", dtype=torch.float32).eval()
    return spec, walrus.get_model(spec, dtype=torch.float32).eval()  # a bfloat16 file runs in float32


def parse_system(spec: str, cfg: TrainConfig) -> tuple[str, int | None]:
    """'name' or 'name@res' (a resolution the corpus lists for that system; default its first)."""
    name, _, res = spec.partition("@")
    entries = [e for e in cfg.datasets if e.name == name]
    if not entries:
        raise SystemExit(f"--systems: {name!r} is not in the corpus; one of {sorted({e.name for e in cfg.datasets})}")
    if not res:
        return name, None
    listed = [e.generate.get("res") for e in entries if e.generate is not None]
    if not res.isdigit() or int(res) not in listed:
        raise SystemExit(f"--systems: {spec!r}: the corpus lists {name} at resolutions {listed}")
    return name, int(res)


def heldout_dir(cfg: TrainConfig, name: str, res: int | None, root: Path, steps: int, n_traj: int,
                progress: bool) -> Path:
    """Held-out data of one system at one resolution (bench/accuracy.py's recipe and seed). The first
    corpus resolution lives where bench/accuracy.py keeps it; others under root/res{N}/."""
    entries = [e for e in cfg.datasets if e.name == name]
    first = entries[0].generate.get("res") if entries[0].generate else None
    if res is None or res == first:
        return heldout_root(cfg, name, root, n_traj=n_traj, steps=steps, progress=progress)
    at_res = [e for e in entries if e.generate and e.generate.get("res") == res]
    others = [e for e in cfg.datasets if e.name != name]
    reordered = TrainConfig(datasets=at_res + others, out_dir=cfg.out_dir)
    return heldout_root(reordered, name, root / f"res{res}", n_traj=n_traj, steps=steps, progress=progress)


def n_spatial_dims(data_dir: Path) -> int:
    split = next(p for p in sorted(data_dir.iterdir()) if p.is_dir()) if data_dir.name == "data" else data_dir
    return WellWindowDataset(split).n_spatial_dims


def seconds_per_step(predict, batch, repeats: int, warmup: int) -> list[float]:
    """Wall times of single predictions on one window, after `warmup` untimed calls."""
    times = []
    with torch.no_grad():
        for i in range(warmup + repeats):
            start = time.perf_counter()
            predict(batch.x, batch)
            if i >= warmup:
                times.append(time.perf_counter() - start)
    return times


def token_grid(model: walrus.Walrus, batch, budget: int) -> tuple[tuple[int, ...], tuple[tuple[int, int], ...]]:
    """Tokens and stride pair per axis that `budget` gives on this batch's grid and boundaries."""
    plans = model.plan(batch.x.shape[-3:], batch.bcs[0].tolist(), budget)
    return tuple(p.n_tokens for p in plans), tuple(p.strides for p in plans)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="pretrained", help="'pretrained' (the shipped model) or a checkpoint path")
    p.add_argument("--corpus", type=Path, default=Path("examples/configs/pretrain_corpus.yaml"),
                   help="the corpus the model was trained on (systems, resolutions, training seeds)")
    p.add_argument("--heldout", type=Path, default=Path("data/heldout"), help="bench/accuracy.py's held-out data")
    p.add_argument("--heldout-traj", type=int, default=3)
    p.add_argument("--systems", nargs="+", default=DEFAULT_SYSTEMS, metavar="NAME[@RES]")
    p.add_argument("--budgets", nargs="+", type=int, default=DEFAULT_BUDGETS, help="tokens per axis")
    p.add_argument("--rollout", type=int, default=10, help="autoregressive steps scored")
    p.add_argument("--window-future", type=int, default=30,
                   help="future frames per window when picking windows (30: bench/accuracy.py's windows)")
    p.add_argument("--windows", type=int, default=6, help="held-out windows per system")
    p.add_argument("--repeats", type=int, default=15, help="timed predictions per budget (median reported)")
    p.add_argument("--warmup", type=int, default=2, help="untimed predictions before timing")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--out", type=Path, default=Path("bench/results/token_budget.json"))
    p.add_argument("--plot", type=Path)
    p.add_argument("--docs", type=Path, help="a Markdown page whose text between the token-budget markers is rewritten")
    add_quiet(p)
    args = p.parse_args(argv)
    for b in args.budgets:
        check_tokens_per_axis(b)
    if args.rollout > args.window_future:
        p.error("--rollout must be at most --window-future")

    torch.set_num_threads(args.threads)
    cfg = TrainConfig.from_yaml(args.corpus)
    label, model = load_model(args.model)
    config = model.config
    systems = [parse_system(s, cfg) for s in args.systems]
    bar = cases(total=len(systems) * (len(args.budgets) + 1), desc="token budgets", quiet=args.quiet)
    results = {}
    for name, res in systems:
        steps = max(config.history_2d, config.history_3d, cfg.history_2d or 0, cfg.history_3d or 0) + args.window_future
        data_dir = heldout_dir(cfg, name, res, args.heldout, steps, args.heldout_traj, progress=not args.quiet)
        three_d = n_spatial_dims(data_dir) == 3
        history = window_history(cfg, config, three_d)
        batches = heldout_batches(data_dir, name, config.field_names, history, args.window_future, args.windows)
        key = f"{name}@{batches[0].x.shape[-3] if res is None else res}"
        trained = config.tokens_per_axis_3d if three_d else config.tokens_per_axis_2d
        persistence = evaluate(persistence_predictor(), batches, args.rollout)
        bar.update()
        rows, by_grid = {}, {}
        for budget in args.budgets:
            tokens, strides = token_grid(model, batches[0], budget)
            if tokens in by_grid:  # the same token grid: the same network, already measured
                rows[str(budget)] = dict(rows[str(by_grid[tokens])], same_grid_as=by_grid[tokens])
            else:
                by_grid[tokens] = budget
                # timing draws from its own generator, so the scored rollouts draw as bench/accuracy.py's do
                times = seconds_per_step(walrus_predictor(model, seed=0, tokens_per_axis=budget), batches[0],
                                         args.repeats, args.warmup)
                scores = evaluate(walrus_predictor(model, seed=0, tokens_per_axis=budget), batches, args.rollout)
                rows[str(budget)] = dict(tokens=list(tokens), strides=[list(s) for s in strides],
                                         seconds_per_step=statistics.median(times), seconds_all=times, **scores)
            r = rows[str(budget)]
            say(f"{key:34s} budget {budget:3d} tokens {'x'.join(map(str, r['tokens'])):9s} "
                f"{1e3 * r['seconds_per_step']:8.1f} ms/step  VRMSE 1-step {r['one_step']:.4f}  "
                f"1-{args.rollout} {r['steps_1_10']:.4f}  (persistence {persistence['steps_1_10']:.4f})")
            bar.update()
        results[key] = dict(system=name, resolution=list(batches[0].x.shape[-3:]), three_d=three_d, history=history,
                            windows=len(batches), trained_budget=trained, persistence=persistence, budgets=rows)
    bar.close()
    record = dict(benchmark="token_budget",
                  date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                  command="python bench/token_budget.py " + " ".join(argv if argv is not None else sys.argv[1:]),
                  machine=machine(), model=label, heldout_seed=HELDOUT_SEED, rollout=args.rollout,
                  timing=dict(what="one prediction (one window, batch 1, float32), median over repeats",
                              repeats=args.repeats, warmup=args.warmup, threads=args.threads),
                  metric="VRMSE (The Well), mean over real channels and windows; steps_1_10 is the mean over "
                         f"autoregressive steps 1-{args.rollout}",
                  results=results)
    write_json(args.out, record)
    if args.plot:
        plot(record, args.plot)
    if args.docs:
        write_docs(record, args.docs)
    return record


def plot(record: dict, path: Path) -> None:
    """Seconds per step against VRMSE (one-step and steps 1-10), one curve per system from coarse to fine
    token grid, budgets labelled, the trained budget starred."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from walrus.atomic import atomic_path

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    for ax, horizon, title in zip(axes, ("one_step", "steps_1_10"),
                                  ("one-step VRMSE", f"mean VRMSE, steps 1-{record['rollout']}")):
        for key, r in record["results"].items():
            groups = {}  # budgets that share a token grid are one point, labelled "6,8"
            for b, row in r["budgets"].items():
                groups.setdefault(int(row.get("same_grid_as", b)), []).append(int(b))
            firsts = sorted(groups, key=lambda b: r["budgets"][str(b)]["tokens"])  # coarse to fine
            xs = [1e3 * r["budgets"][str(b)]["seconds_per_step"] for b in firsts]
            ys = [r["budgets"][str(b)][horizon] for b in firsts]
            (line,) = ax.plot(xs, ys, marker="o", lw=1.4, label=key)
            for b, x, y in zip(firsts, xs, ys):
                trained = r["trained_budget"] in groups[b]
                ax.annotate(",".join(map(str, sorted(groups[b]))), (x, y), textcoords="offset points", xytext=(3, 3),
                            fontsize=7, fontweight="bold" if trained else "normal", color=line.get_color())
                if trained:
                    ax.plot([x], [y], marker="*", ms=12, color=line.get_color(), zorder=3)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(f"ms per predicted step ({record['timing']['threads']} CPU thread(s), batch 1)")
        ax.set_ylabel(title)
        ax.grid(alpha=0.3, which="both")
    axes[0].set_title(f"{record['model']}: tokens per axis (labels), star = trained budget", fontsize=9)
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def docs_table(record: dict) -> str:
    """Systems as rows, budgets as columns; the trained budget in bold."""
    budgets = sorted({int(b) for r in record["results"].values() for b in r["budgets"]})
    n = record["rollout"]
    out = [f"Each cell: mean VRMSE over steps 1-{n} / one-step VRMSE · ms per predicted step · token grid. "
           "**Bold**: the budget the model was trained at. Persistence (copy the last frame) for reference.", "",
           "| system | " + " | ".join(f"{b} tokens/axis" for b in budgets) + " | persistence |",
           "| --- |" + " ---: |" * (len(budgets) + 1)]
    for key, r in record["results"].items():
        cells = []
        for b in budgets:
            row = r["budgets"].get(str(b))
            if row is None:
                cells.append("—")
                continue
            grid = "x".join(map(str, row["tokens"][:3 if r["three_d"] else 2]))
            ms = 1e3 * row["seconds_per_step"]
            text = f"{row['steps_1_10']:.3g} / {row['one_step']:.3g} · {ms:.0f} ms · {grid}"
            cells.append(f"**{text}**" if b == r["trained_budget"] else text)
        pers = r["persistence"]
        out.append(f"| {key} | " + " | ".join(cells) + f" | {pers['steps_1_10']:.3g} / {pers['one_step']:.3g} |")
    return "\n".join(out) + "\n"


def write_docs(record: dict, path: Path) -> None:
    replace_block(path, DOCS_BEGIN, DOCS_END, f"<!-- written by: {record['command']} -->\n\n{docs_table(record)}\n")


if __name__ == "__main__":
    main()
