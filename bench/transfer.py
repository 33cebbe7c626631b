"""Transfer: fine-tune a model pretrained without a system, against the same fine-tune from scratch.

For each corpus system that the pretrained checkpoint never saw (its metadata's ``datasets``;
examples/configs/pretrain_transfer.yaml leaves out MHD, shear flow and Gray-Scott), two fine-tunes
run through `walrus finetune` (the command's Python entry, as the CLI calls it) with one recipe,
one seed and the same data (that system's corpus training files), differing only in `init_from`:
(a) the leave-out pretrained weights, (b) random weights of the same architecture drawn after
``torch.manual_seed(seed)``. Both, the pretrained model without fine-tuning, and persistence are
then scored on the held-out trajectories of bench/accuracy.py (HELDOUT_SEED, the same windows
and metric): one-step VRMSE and the mean over rollout steps 1-10 and 11-30.

The recipe is the one `walrus quickstart` fine-tunes with (8 epochs, one of warm-up and two of
cool-down, lr 5e-4, batch 4, time stride 1) at half its epoch length (25 steps: 200 in all), fixed
before any transfer number existed; nothing is tuned on held-out data.

    walrus train examples/configs/pretrain_transfer.yaml
    python bench/transfer.py --corpus examples/configs/pretrain_corpus.yaml \
        --pretrained runs/pretrain_transfer/model.safetensors --out bench/results/transfer.json \
        --plot docs/transfer.png --docs docs/transfer.md
"""

from __future__ import annotations

import argparse
import datetime
import json
import shutil
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _progress import add_quiet, cases, say  # noqa: E402
from _docs_block import replace_block  # noqa: E402
from baselines import walrus_train_seconds, walrus_train_steps  # noqa: E402
from accuracy import (HELDOUT_SEED, HORIZONS, docs_table, evaluate, heldout_batches, heldout_root, machine,  # noqa: E402
                      plot_curves, write_json)

import walrus  # noqa: E402
from walrus.data.well_dataset import WellWindowDataset  # noqa: E402
from walrus.errors import ArgumentError  # noqa: E402
from walrus.model.checkpoint import content_sha256, read_metadata, save_checkpoint  # noqa: E402
from walrus.train.config import TrainConfig  # noqa: E402
from walrus.train.evaluation import persistence_predictor, walrus_predictor  # noqa: E402
from walrus.train.trainer import window_history  # noqa: E402

#: the two fine-tunes: from the leave-out pretrained weights, and from random weights
ARMS = ("pretrained", "scratch")
DOCS_BEGIN, DOCS_END = "<!-- transfer-table:begin -->", "<!-- transfer-table:end -->"


def pretrained_systems(path: Path) -> list[str]:
    """The systems a checkpoint was trained on, from the metadata `walrus train` writes."""
    meta = read_metadata(path)
    return json.loads(meta.get("user.datasets", "[]"))


def pretraining_run(path: Path) -> dict | None:
    """Steps and summed step seconds of the run that wrote the checkpoint (its log.jsonl beside it)."""
    log = path.parent / "log.jsonl"
    if not log.is_file():
        return None
    return dict(log=str(log), steps=len(walrus_train_steps(log)), step_seconds=round(walrus_train_seconds(log), 1))


def init_files(pretrained: Path, out: Path, seed: int) -> dict[str, Path]:
    """Both starting points as checkpoint files, so both fine-tunes load their weights the same
    way: the pretrained file itself, and random weights of its architecture and vocabulary."""
    model = walrus.get_model(str(pretrained), dtype=torch.float32)
    torch.manual_seed(seed)
    scratch = walrus.Walrus(model.config)
    preset = read_metadata(pretrained).get("preset") or None
    path = save_checkpoint(scratch, out / "init_scratch.safetensors", preset=preset,
                           metadata={"transfer_init": f"random, torch.manual_seed({seed})"})
    return {"pretrained": pretrained, "scratch": path}


def weights_sha256(path: Path) -> str:
    """sha256 of a checkpoint's float32 weights (bfloat16 files are read as the trainer reads them)."""
    model = walrus.get_model(str(path), dtype=torch.float32)
    return content_sha256({k: v.detach() for k, v in model.state_dict().items()})


def finetune(config: dict, path: Path, quiet: bool) -> dict:
    """One `walrus finetune CONFIG` run in a fresh out_dir; its wall time, losses and exported model."""
    from walrus.commands.train import run

    out_dir = Path(config["out_dir"])
    shutil.rmtree(out_dir, ignore_errors=True)  # the trainer would resume an earlier run
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    t0 = time.perf_counter()
    run(path, finetune=True, out_dir=None, max_steps=None, echo=lambda s: None, quiet=quiet)
    seconds = time.perf_counter() - t0
    shutil.rmtree(out_dir / "checkpoints", ignore_errors=True)  # optimizer state: not needed afterwards
    log = [json.loads(line) for line in (out_dir / "log.jsonl").read_text().splitlines()]
    steps = [r for r in log if r["event"] == "train"]
    return dict(config=str(path), seconds=seconds, step_seconds=sum(r["seconds"] for r in steps),
                steps=len(steps), steps_per_dataset=dict(Counter(r["dataset"] for r in steps)),
                loss=[round(r["loss"], 5) for r in steps], model=str(out_dir / "model.safetensors"))


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--corpus", type=Path, required=True, help="the full corpus: each left-out system's training data")
    p.add_argument("--pretrained", type=Path, required=True, help="checkpoint pretrained without the left-out systems")
    p.add_argument("--datasets", nargs="*", help="left-out systems to fine-tune on (default: every corpus system "
                                                 "the checkpoint was not trained on)")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--steps-per-epoch", type=int, default=25)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--warmup-epochs", type=int, default=1)
    p.add_argument("--cooldown-epochs", type=int, default=2)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--work", type=Path, default=Path("runs/transfer"), help="fine-tune configs, logs and models")
    p.add_argument("--heldout", type=Path, default=Path("data/heldout"), help="where held-out data is generated")
    p.add_argument("--heldout-traj", type=int, default=3)
    p.add_argument("--rollout", type=int, default=30)
    p.add_argument("--windows", type=int, default=6, help="rollout windows per system")
    p.add_argument("--out", type=Path, default=Path("bench/results/transfer.json"))
    p.add_argument("--plot", type=Path)
    p.add_argument("--docs", type=Path, help="a Markdown page whose table between the transfer markers is rewritten")
    add_quiet(p)
    args = p.parse_args(argv)

    if args.seed == HELDOUT_SEED:
        raise ArgumentError(f"--seed: expected any seed but the held-out one ({HELDOUT_SEED}), received {args.seed}")
    cfg = TrainConfig.from_yaml(args.corpus)
    corpus_systems = list(dict.fromkeys(e.name for e in cfg.datasets))
    seen = pretrained_systems(args.pretrained)
    systems = args.datasets or [s for s in corpus_systems if s not in seen]
    for name in systems:
        if name in seen:
            raise ArgumentError(f"--datasets: expected systems the checkpoint was not pretrained on, received "
                                f"{name!r} (in {args.pretrained}'s training data: {', '.join(seen)})")
        if name not in corpus_systems:
            raise ArgumentError(f"--datasets: expected systems of {args.corpus} ({', '.join(corpus_systems)}), "
                                f"received {name!r}")
    if not systems:
        raise ArgumentError(f"--pretrained: expected a checkpoint that left some system of {args.corpus} out, "
                            f"received one trained on all of them ({args.pretrained})")

    args.work.mkdir(parents=True, exist_ok=True)
    inits = init_files(args.pretrained, args.work, args.seed)
    init_sha = {arm: weights_sha256(path) for arm, path in inits.items()}
    preset = read_metadata(args.pretrained).get("preset") or cfg.preset
    recipe = dict(preset=preset, epochs=args.epochs, steps_per_epoch=args.steps_per_epoch, lr=args.lr,
                  warmup_epochs=args.warmup_epochs, cooldown_epochs=args.cooldown_epochs,
                  batch_size_2d=args.batch, batch_size_3d=1, max_dt_stride=1, seed=args.seed,
                  history_2d=cfg.history_2d, history_3d=cfg.history_3d,  # the corpus's windows, as scored
                  validate_every=0, checkpoint_every=args.epochs * args.steps_per_epoch)
    pretrained = walrus.get_model(str(args.pretrained), dtype=torch.float32).eval()
    results = {}
    bar = cases(desc="transfer", quiet=args.quiet, total=len(systems) * (len(ARMS) + 1), unit="run")
    for name in systems:
        entries = [e for e in cfg.datasets if e.name == name]
        # the corpus training files (generated by the first fine-tune if missing), never held-out ones
        data = [dict(name=e.name, path=e.path, **({"generate": e.generate} if e.generate else {})) for e in entries]
        runs = {}
        for arm in ARMS:
            config = dict(datasets=data, out_dir=str(args.work / name / arm), init_from=str(inits[arm]), **recipe)
            runs[arm] = dict(finetune(config, args.work / name / f"{arm}.yaml", args.quiet),
                             init=str(inits[arm]), init_weights_sha256=init_sha[arm])
            say(f"{name}: {arm} fine-tune, {runs[arm]['steps']} steps in {runs[arm]['seconds']:.0f} s, "
                f"loss {runs[arm]['loss'][0]:.3g} -> {runs[arm]['loss'][-1]:.3g}")
            bar.update(1)

        first = entries[0]
        probe = WellWindowDataset(Path(first.path) / "data" / first.train_split)
        history = window_history(cfg, pretrained.config, probe.n_spatial_dims == 3)
        data_dir = heldout_root(cfg, name, args.heldout, n_traj=args.heldout_traj, steps=history + args.rollout,
                                progress=not args.quiet)
        batches = heldout_batches(data_dir, name, pretrained.config.field_names, history, args.rollout, args.windows)
        models = {"persistence": evaluate(persistence_predictor(), batches, args.rollout),
                  "pretrained_zero_shot": evaluate(walrus_predictor(pretrained, seed=0), batches, args.rollout)}
        for arm in ARMS:
            model = walrus.get_model(runs[arm]["model"], dtype=torch.float32).eval()
            models[f"{arm}_finetuned"] = evaluate(walrus_predictor(model, seed=0), batches, args.rollout)
        pre, scratch = models["pretrained_finetuned"], models["scratch_finetuned"]
        results[name] = dict(history=history, windows=len(batches), resolution=list(batches[0].x.shape[-3:]),
                             training_data=[e.path for e in entries], models=models, finetune=runs,
                             pretrained_beats_scratch={h: pre[h] < scratch[h] for h in HORIZONS if h in pre})
        say(f"{name}: VRMSE steps 1-10 pretrained+FT {models['pretrained_finetuned']['steps_1_10']:.3g}, "
            f"scratch+FT {models['scratch_finetuned']['steps_1_10']:.3g}, "
            f"persistence {models['persistence']['steps_1_10']:.3g}")
        bar.update(1)
    bar.close()

    wins = {h: sum(r["pretrained_beats_scratch"].get(h, False) for r in results.values()) for h in HORIZONS}
    record = dict(benchmark="transfer", date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                  command="python bench/transfer.py " + " ".join(argv if argv is not None else sys.argv[1:]),
                  machine=machine(), pretrained=str(args.pretrained), pretrained_on=seen,
                  pretraining=pretraining_run(args.pretrained), left_out=systems,
                  finetune_steps=args.epochs * args.steps_per_epoch, recipe=recipe,
                  recipe_choice="walrus quickstart's fine-tune recipe, fixed before any transfer result; "
                                "the same for both arms; nothing tuned on held-out data",
                  heldout_seed=HELDOUT_SEED, rollout=args.rollout,
                  metric="VRMSE (The Well), mean over real channels and windows",
                  pretrained_beats_scratch=dict(wins, of=len(results)), results=results)
    write_json(args.out, record)
    if args.plot:
        plot_curves(record, args.plot)
    if args.docs:
        write_docs(record, args.docs)
    return record


def docs_section(record: dict) -> str:
    """The compute, how many systems pretraining won, and the three horizon tables (accuracy.md's layout)."""
    wins, n = record["pretrained_beats_scratch"], record["pretrained_beats_scratch"]["of"]
    runs = [r for row in record["results"].values() for r in row["finetune"].values()]
    pre = record.get("pretraining")
    compute = (f"Leave-out pretraining: {pre['steps']} steps, {pre['step_seconds']:.0f} s of training steps. "
               if pre else "")
    compute += (f"Fine-tune: {record['finetune_steps']} steps per run, {np.mean([r['seconds'] for r in runs]):.0f} s "
                f"per run on average ({record['machine']['torch_threads']} thread(s)).")
    wins_line = (f"Pretrained + fine-tune beats scratch + fine-tune on {wins['one_step']} of {n} systems one-step, "
                 f"{wins['steps_1_10']} of {n} over steps 1-10, {wins['steps_11_30']} of {n} over steps 11-30.")
    return "\n".join([compute, "", wins_line, "", docs_table(record)])


def write_docs(record: dict, path: Path) -> None:
    replace_block(path, DOCS_BEGIN, DOCS_END, f"<!-- written by: {record['command']} -->\n\n{docs_section(record)}\n")


if __name__ == "__main__":
    main()
