"""Accuracy on held-out trajectories: walrus models against persistence and The Well's FNO / U-Net.

Held-out data is generated fresh by each corpus system's real solver with a seed that no training
or tuning run uses (HELDOUT_SEED; generators derive trajectory k's parameters from (seed, k)), at
the resolution of that system's first corpus entry. Every model rolls the same windows forward
through `walrus.train.evaluation` (the same channels, units and obstacle mask), and each step is
scored with VRMSE, The Well's definition (`walrus.metrics.vrmse`, equal to
`the_well.benchmark.metrics.VRMSE`, tests/test_metrics.py), averaged over the real channels.
Reported per system: one-step VRMSE and the mean over rollout steps 1-10 and 11-30.

    python bench/accuracy.py --corpus examples/configs/pretrain_corpus.yaml \
        --walrus pretrained=runs/pretrain_corpus/model.safetensors --baselines runs/baselines \
        --out bench/results/accuracy.json --plot docs/accuracy_rollout.png --docs docs/accuracy.md
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _docs_block import replace_block  # noqa: E402
from baselines import KINDS, load_baseline  # noqa: E402

import walrus  # noqa: E402
from walrus.data.well_dataset import WellWindowDataset  # noqa: E402
from walrus.train.batching import collate, dataset_layout  # noqa: E402
from walrus.train.config import DatasetConfig, TrainConfig  # noqa: E402
from walrus.train.evaluation import persistence_predictor, rollout_vrmse, walrus_predictor  # noqa: E402
from walrus.train.trainer import declared_transforms, window_history  # noqa: E402

#: generator seed of every held-out trajectory; training corpora use other seeds (0 by default)
HELDOUT_SEED = 20_261_129
HORIZONS = {"one_step": (0, 1), "steps_1_10": (0, 10), "steps_11_30": (10, 30)}
DOCS_BEGIN, DOCS_END = "<!-- accuracy-table:begin -->", "<!-- accuracy-table:end -->"


def heldout_root(cfg: TrainConfig, name: str, out: Path, *, n_traj: int, steps: int, progress: bool) -> Path:
    """The held-out dataset of one system: generated once (same seed, same files) and reused."""
    from walrus.train.corpus import prepare_corpus

    entry = next(e for e in cfg.datasets if e.name == name)
    if entry.generate is None:  # a stored dataset (e.g. from The Well): its own test split
        from walrus.train.trainer import resolve_dataset_root

        return resolve_dataset_root(entry) / "data" / "test"
    res = entry.generate.get("res")
    recipe = dict(n_traj=n_traj, steps=max(steps, entry.generate.get("steps", 0)), seed=HELDOUT_SEED,
                  **({"res": res} if res else {}))
    if recipe["seed"] in {e.generate.get("seed", 0) for e in cfg.datasets if e.generate is not None}:
        raise ValueError(f"the held-out seed {HELDOUT_SEED} is also a training seed in the corpus")
    root = out / name
    held = TrainConfig(datasets=[DatasetConfig(name=name, path=str(root), generate=recipe)], out_dir=str(out))
    prepare_corpus(held, progress=progress, echo=lambda s: None)
    return root / "data"


def heldout_batches(data_dir: Path, name: str, vocabulary, history: int, rollout: int, windows: int):
    """Up to `windows` single-window batches, spread over every held-out trajectory and start time."""
    batches = []
    for split_dir in sorted(p for p in data_dir.iterdir() if p.is_dir()) if data_dir.name == "data" else [data_dir]:
        data = WellWindowDataset(split_dir, n_steps_input=history, n_steps_output=rollout)
        layout = dataset_layout(data, vocabulary, declared_transforms(name))
        batches += [(data, layout, i) for i in range(len(data))]
    pick = np.unique(np.linspace(0, len(batches) - 1, min(windows, len(batches))).round().astype(int))
    return [collate([d[i]], layout, name) for d, layout, i in (batches[k] for k in pick)]


def evaluate(predict, batches, rollout: int) -> dict:
    """Mean VRMSE per step over windows and real channels, and its horizon summaries."""
    with torch.no_grad():
        per_step = torch.stack([rollout_vrmse(predict, b, rollout).mean(-1) for b in batches]).mean(0)
    curve = [float(v) for v in per_step]
    row = {k: float(np.mean(curve[a:min(b, len(curve))])) for k, (a, b) in HORIZONS.items() if a < len(curve)}
    return dict(row, per_step=curve)


def machine() -> dict:
    return dict(platform=platform.platform(), cpu_count=os.cpu_count(), torch_threads=torch.get_num_threads(),
                python=platform.python_version(), torch=torch.__version__)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--corpus", type=Path, required=True)
    p.add_argument("--walrus", action="append", default=[], metavar="LABEL=CHECKPOINT",
                   help="a walrus model to score (repeatable)")
    p.add_argument("--baselines", type=Path, help="directory of bench/baselines.py checkpoints ({kind}_{system}.pt)")
    p.add_argument("--heldout", type=Path, default=Path("data/heldout"), help="where held-out data is generated")
    p.add_argument("--heldout-traj", type=int, default=3)
    p.add_argument("--rollout", type=int, default=30)
    p.add_argument("--windows", type=int, default=6, help="rollout windows per system")
    p.add_argument("--datasets", nargs="*", help="only these systems")
    p.add_argument("--out", type=Path, default=Path("bench/results/accuracy.json"))
    p.add_argument("--plot", type=Path)
    p.add_argument("--docs", type=Path, help="a Markdown page whose table between the accuracy markers is rewritten")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)

    cfg = TrainConfig.from_yaml(args.corpus)
    models = {}
    for spec in args.walrus:
        label, _, path = spec.partition("=")
        if not path:
            p.error(f"--walrus takes LABEL=CHECKPOINT, received {spec!r}")
        models[label] = walrus.get_model(path, dtype=torch.float32).eval()  # a bfloat16 file runs in float32
    config = next(iter(models.values())).config if models else walrus.get_model(cfg.preset, meta=True).config
    systems = args.datasets or list(dict.fromkeys(e.name for e in cfg.datasets))
    from tqdm.auto import tqdm

    results = {}
    for name in tqdm(systems, desc="systems", disable=args.quiet):
        first = next(e for e in cfg.datasets if e.name == name)
        probe = WellWindowDataset(Path(first.path) / "data" / first.train_split) if first.path else None
        three_d = probe is not None and probe.n_spatial_dims == 3
        history = window_history(cfg, config, three_d)
        data_dir = heldout_root(cfg, name, args.heldout, n_traj=args.heldout_traj, steps=history + args.rollout,
                                progress=not args.quiet)
        batches = heldout_batches(data_dir, name, config.field_names, history, args.rollout, args.windows)
        row = {"persistence": evaluate(persistence_predictor(), batches, args.rollout)}
        for label, model in models.items():
            row[label] = evaluate(walrus_predictor(model, seed=0), batches, args.rollout)
        for kind in KINDS:
            path = args.baselines / f"{kind}_{name}.pt" if args.baselines else None
            if path is not None and path.exists():
                predictor, info = load_baseline(path)
                row[kind] = dict(evaluate(predictor, batches, args.rollout), training=info)
        results[name] = dict(history=history, windows=len(batches), resolution=list(batches[0].x.shape[-3:]),
                             models=row)
    record = dict(benchmark="accuracy", date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                  command="python bench/accuracy.py " + " ".join(argv if argv is not None else sys.argv[1:]),
                  machine=machine(), heldout_seed=HELDOUT_SEED, rollout=args.rollout,
                  metric="VRMSE (The Well), mean over real channels and windows", results=results)
    write_json(args.out, record)
    if args.plot:
        plot_curves(record, args.plot)
    if args.docs:
        write_docs_table(record, args.docs)
    return record


def write_json(path: Path, record: dict) -> None:
    from walrus.atomic import atomic_path

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(record, indent=2) + "\n")


def plot_curves(record: dict, path: Path) -> None:
    """VRMSE against rollout step, one panel per system, one line per model (log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from walrus.atomic import atomic_path

    names = list(record["results"])
    cols = min(3, len(names))
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        for label, row in record["results"][name]["models"].items():
            steps = np.arange(1, len(row["per_step"]) + 1)
            ax.plot(steps, row["per_step"], label=label, lw=1.6, ls="--" if label == "persistence" else "-")
        ax.set_yscale("log")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("rollout step")
        ax.set_ylabel("VRMSE")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def docs_table(record: dict) -> str:
    """One Markdown table per horizon: systems as rows, models as columns, the best in bold."""
    labels = list(dict.fromkeys(label for r in record["results"].values() for label in r["models"]))
    out = []
    for horizon, title in (("one_step", "One-step VRMSE"), ("steps_1_10", "Mean VRMSE, steps 1-10"),
                           ("steps_11_30", "Mean VRMSE, steps 11-30")):
        out += [f"**{title}**", "", "| system | " + " | ".join(labels) + " |", "| --- |" + " ---: |" * len(labels)]
        for name, r in record["results"].items():
            values = {k: r["models"][k].get(horizon) for k in labels if k in r["models"]}
            best = min((v for v in values.values() if v is not None), default=None)
            cells = ["—" if values.get(k) is None else (f"**{values[k]:.3g}**" if values[k] == best else f"{values[k]:.3g}")
                     for k in labels]
            out.append(f"| {name} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def write_docs_table(record: dict, path: Path) -> None:
    replace_block(path, DOCS_BEGIN, DOCS_END, f"<!-- written by: {record['command']} -->\n\n{docs_table(record)}\n")


if __name__ == "__main__":
    main()
