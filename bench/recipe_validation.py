"""Choose between pretraining recipes on the corpus's validation split, never on held-out data.

Each checkpoint is scored by the trainer's own validation (`Trainer.validate`: one-step VRMSE and
the mean over the first rollout steps, per corpus entry) on the `valid` trajectories of the
training config's datasets. Those come from the training seeds (a tenth of each generated set,
never trained on); `bench/accuracy.py`'s held-out seed stays untouched until a recipe is chosen.
The record also carries each checkpoint's training compute, read from its run's `log.jsonl`,
so candidates can be compared at equal seconds.

    python bench/recipe_validation.py --corpus examples/configs/pretrain_corpus.yaml \\
        --model v2=runs/pretrain_corpus_v2/model.safetensors --model v3=runs/other/model.safetensors \\
        --out bench/results/recipe_validation.json
    python bench/recipe_validation.py --results bench/results/recipe_validation_t16.json --compare t16:v3
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from accuracy import machine, write_json  # noqa: E402
from baselines import walrus_train_steps  # noqa: E402

import walrus  # noqa: E402
from walrus.model.checkpoint import load_checkpoint  # noqa: E402
from walrus.train.config import TrainConfig  # noqa: E402
from walrus.train.trainer import Trainer  # noqa: E402


def score(corpus: str, checkpoints: dict[str, str], batches: int, rollout: int) -> dict[str, dict]:
    """{label: {entry: {"one_step": mean over fields, "steps_1_<rollout>": mean}}}.

    Each checkpoint runs under its own model config (a token budget or another override it was
    trained with), not the corpus config's preset; checkpoints that share a config share a trainer."""
    base = TrainConfig.from_yaml(corpus)
    preset = walrus.get_model(base.preset, meta=True).config.to_dict()
    trainers: dict[str, Trainer] = {}
    results = {}
    with tempfile.TemporaryDirectory() as out:
        for label, path in checkpoints.items():
            model = load_checkpoint(path)
            overrides = {k: v for k, v in model.config.to_dict().items() if preset.get(k) != v}
            key = repr(sorted(overrides.items()))
            if key not in trainers:
                cfg = TrainConfig.from_yaml(corpus, out_dir=out, validation_batches=batches, rollout_steps=rollout,
                                            progress=False, model_overrides=overrides)
                trainers[key] = Trainer(cfg)
            trainer = trainers[key]
            trainer.engine.module.load_state_dict(model.state_dict())
            rows = trainer.validate()
            results[label] = {
                entry: {"one_step": sum(row["one_step"].values()) / len(row["one_step"]),
                        f"steps_1_{rollout}": row["full_vrmse"]}
                for entry, row in rows.items()}
    return results


def training_record(checkpoint: str) -> dict | None:
    """The compute behind a checkpoint, from the `log.jsonl` its training run left beside it: optimizer
    steps, seconds of training steps, and seconds per step by dataset (None when there is no log).
    A step logged twice (a resumed run) counts once, as its last record; the baselines' budget
    (`baselines.walrus_train_seconds`) counts both, the compute spent. Without a resume they agree."""
    log = Path(checkpoint).parent / "log.jsonl"
    if not log.is_file():
        return None
    steps = {row["global_step"]: row for row in walrus_train_steps(log)}
    per_dataset: dict[str, list[float]] = {}
    for row in steps.values():
        per_dataset.setdefault(row["dataset"], []).append(row["seconds"])
    return {"log": str(log), "steps": len(steps), "seconds": sum(r["seconds"] for r in steps.values()),
            "seconds_per_step": {name: sum(v) / len(v) for name, v in sorted(per_dataset.items())}}


def table(results: dict[str, dict], rollout: int) -> str:
    labels = list(results)
    entries = list(results[labels[0]])
    head = "| entry | " + " | ".join(f"{l}: 1 step | {l}: steps 1-{rollout}" for l in labels) + " |"
    lines = [head, "| --- |" + " ---: | ---: |" * len(labels)]
    for e in entries:
        cells = [f"{results[l][e]['one_step']:.4f} | {results[l][e][f'steps_1_{rollout}']:.4f}" for l in labels]
        lines.append(f"| {e} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def compare(results: dict[str, dict], candidate: str, reference: str) -> dict:
    """How a candidate scores against a reference over every corpus entry and metric: the geometric
    mean of its VRMSE over the reference's (below 1: better) and on how many numbers it is lower.
    The selection rules in docs/accuracy.md are stated in these terms."""
    for label in (candidate, reference):
        if label not in results:
            raise KeyError(f"no scores for {label!r}; scored: {sorted(results)}")
    ref = results[reference]
    logs = [math.log(results[candidate][e][m] / ref[e][m]) for e in ref for m in ref[e]]
    return {"candidate": candidate, "reference": reference, "geomean_ratio": math.exp(sum(logs) / len(logs)),
            "better": sum(1 for x in logs if x < 0), "of": len(logs)}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", help="the training config whose valid splits score the models")
    p.add_argument("--model", action="append", metavar="LABEL=CHECKPOINT")
    p.add_argument("--results", default=None, help="compare the scores of an earlier --out file instead of scoring")
    p.add_argument("--compare", action="append", default=[], metavar="CANDIDATE:REFERENCE",
                   help="print the candidate's geometric-mean VRMSE ratio over the reference (repeatable)")
    p.add_argument("--batches", type=int, default=12, help="validation windows per corpus entry")
    p.add_argument("--rollout", type=int, default=10)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", default=None, help="JSON results file (written atomically)")
    args = p.parse_args(argv)
    pairs = []
    for item in args.compare:
        candidate, sep, reference = item.partition(":")
        if not sep or not candidate or not reference:
            p.error(f"--compare wants CANDIDATE:REFERENCE, got {item!r}")
        pairs.append((candidate, reference))
    if args.results:
        results = json.loads(Path(args.results).read_text())["results"]
        for candidate, reference in pairs:
            print(json.dumps(compare(results, candidate, reference)))
        return
    if not args.corpus or not args.model:
        p.error("--corpus and at least one --model are required (or --results FILE)")
    if args.threads:
        torch.set_num_threads(args.threads)
    checkpoints = {}
    for item in args.model:
        label, sep, path = item.partition("=")
        if not sep or not label or not Path(path).is_file():
            p.error(f"--model wants LABEL=CHECKPOINT with an existing file, got {item!r}")
        checkpoints[label] = path
    results = score(args.corpus, checkpoints, args.batches, args.rollout)
    print(table(results, args.rollout))
    for candidate, reference in pairs:
        print(json.dumps(compare(results, candidate, reference)))
    if args.out:
        record = dict(benchmark="recipe_validation", date=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                      command="python " + " ".join(["bench/recipe_validation.py", *(argv or sys.argv[1:])]),
                      machine=machine(), corpus=args.corpus, checkpoints=checkpoints, batches=args.batches,
                      rollout=args.rollout, results=results,
                      training={label: training_record(path) for label, path in checkpoints.items()})
        write_json(Path(args.out), record)


if __name__ == "__main__":
    main()
