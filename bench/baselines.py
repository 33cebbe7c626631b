"""FNO and U-Net baselines from The Well, trained per dataset under a wall-clock budget.

The models are The Well's own (`the_well.benchmark.models`: `FNO` over neuraloperator 0.3, and
`UNetClassic`); only their training loop is ours, because The Well's trainer is Hydra-driven and
epoch-based where the comparison needs "the same seconds on the same device" as walrus's
pretraining. Their recipe follows The Well's: inputs are the history frames stacked as channels
(plus constant fields), z-scored with per-channel statistics of the training split; the output is
the next frame's change, scaled by the change's per-channel standard deviation ("delta" targets);
MSE loss, AdamW, a cosine learning rate over the wall-clock budget.

Data comes through walrus's own data path (`WellWindowDataset` -> `ChannelLayout` -> `Batch`), so
every model sees the same channels, in the same units, as walrus does, and
`walrus.train.evaluation` scores them all the same way.

    python bench/baselines.py --corpus examples/configs/pretrain_corpus.yaml \
        --seconds-from runs/pretrain_corpus/log.jsonl --out runs/baselines
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import sys
import time
import types
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from walrus.data.well_dataset import WellWindowDataset
from walrus.train.batching import Batch, collate, dataset_layout
from walrus.train.config import TrainConfig
from walrus.train.trainer import declared_transforms, resolve_dataset_root, window_history

KINDS = ("fno", "unet")
#: sizes for two CPU cores (The Well's defaults, FNO 128 channels / 16 modes and U-Net 48
#: features, take minutes per step here); recorded with each checkpoint
SIZES = {
    "fno": {2: dict(hidden_channels=48, modes=12), 3: dict(hidden_channels=24, modes=8)},
    "unet": {2: dict(init_features=24), 3: dict(init_features=12)},
}


def well_model_classes() -> dict[str, type]:
    """The Well's FNO and UNetClassic, imported without `the_well.benchmark.models.__init__`:
    that file imports every model, and AFNO/AViT need `timm`, whose wheel pulls a CUDA build of
    torch. The two modules themselves need only torch, neuraloperator 0.3 and huggingface_hub."""
    import the_well.benchmark as well_benchmark

    package = "the_well.benchmark.models"
    if package not in sys.modules:
        stub = types.ModuleType(package)
        stub.__path__ = [str(Path(well_benchmark.__file__).parent / "models")]
        sys.modules[package] = stub
    fno = importlib.import_module(f"{package}.fno")
    unet = importlib.import_module(f"{package}.unet_classic")
    return {"fno": fno.FNO, "unet": unet.UNetClassic}


@dataclass
class Channels:
    """Which network-layout channels a baseline reads and writes, and their statistics."""

    n_dims: int
    history: int
    keep: torch.Tensor        # (C_var,) bool: real time-varying channels
    n_const: int
    in_mean: torch.Tensor     # (C_in,) per input channel (history frames x kept + constants)
    in_std: torch.Tensor
    delta_std: torch.Tensor   # (C_out,)

    @property
    def n_in(self) -> int:
        return self.history * int(self.keep.sum()) + self.n_const

    @property
    def n_out(self) -> int:
        return int(self.keep.sum())


def _space(x: torch.Tensor, n_dims: int) -> torch.Tensor:
    """Drop the lifted singleton depth axis of 2-D data: (..., H, W, 1) -> (..., H, W)."""
    return x[..., 0] if n_dims == 2 else x


def baseline_inputs(window: torch.Tensor, batch: Batch, ch: Channels) -> torch.Tensor:
    """(T, B, C, H, W, D) network-layout window -> (B, T*C_kept + C_const, *space), unnormalised."""
    n_var = batch.n_variable
    frames = window[:, :, :n_var][:, :, ch.keep]                       # (T, B, Ck, ...)
    stacked = frames.movedim(0, 1).flatten(1, 2)                       # (B, T*Ck, ...)
    parts = [stacked, window[-1, :, n_var:]] if ch.n_const else [stacked]
    return _space(torch.cat(parts, dim=1), ch.n_dims)


def _view(stat: torch.Tensor, n_dims: int) -> torch.Tensor:
    return stat.view(1, -1, *([1] * n_dims))


class BaselinePredictor:
    """A trained baseline as a `walrus.train.evaluation` predictor."""

    def __init__(self, model: torch.nn.Module, ch: Channels):
        self.model, self.ch = model.eval(), ch

    def normalised_delta(self, window: torch.Tensor, batch: Batch) -> torch.Tensor:
        ch = self.ch
        x = (baseline_inputs(window, batch, ch) - _view(ch.in_mean, ch.n_dims)) / _view(ch.in_std, ch.n_dims)
        return self.model(x)

    def __call__(self, window: torch.Tensor, batch: Batch) -> torch.Tensor:
        ch = self.ch
        delta = self.normalised_delta(window, batch) * _view(ch.delta_std, ch.n_dims)
        last = window[-1, :, :batch.n_variable].clone()
        delta = delta.unsqueeze(-1) if ch.n_dims == 2 else delta
        last[:, ch.keep] = last[:, ch.keep] + delta
        return last


def build_model(kind: str, ch: Channels, resolution: tuple[int, ...]) -> torch.nn.Module:
    cls = well_model_classes()[kind]
    size = SIZES[kind][ch.n_dims]
    if kind == "fno":
        m = size["modes"]
        return cls(dim_in=ch.n_in, dim_out=ch.n_out, n_spatial_dims=ch.n_dims, spatial_resolution=resolution,
                   modes1=m, modes2=m, modes3=m, hidden_channels=size["hidden_channels"])
    return cls(dim_in=ch.n_in, dim_out=ch.n_out, n_spatial_dims=ch.n_dims, spatial_resolution=resolution,
               init_features=size["init_features"])


def channel_stats(batches: list[Batch], history: int, n_dims: int) -> Channels:
    """Per-channel mean/std of the inputs and std of the one-step change, over sample batches."""
    first = batches[0]
    keep = first.padded_mask.clone()
    n_const = first.x.shape[2] - first.n_variable
    ch = Channels(n_dims, history, keep, n_const, torch.zeros(0), torch.ones(0), torch.ones(0))
    xs = torch.cat([baseline_inputs(b.x, b, ch).movedim(1, -1).reshape(-1, ch.n_in) for b in batches])
    deltas = torch.cat([_space((b.future[0] - b.x[-1, :, :b.n_variable])[:, keep], n_dims).movedim(1, -1)
                        .reshape(-1, ch.n_out) for b in batches])
    ch.in_mean = xs.mean(0)
    ch.in_std = xs.std(0).clamp_min(1e-6 * max(float(xs.abs().max()), 1e-12))  # constant channels stay finite
    ch.delta_std = deltas.std(0).clamp_min(1e-12)
    return ch


@dataclass
class Member:
    name: str
    train: WellWindowDataset
    layout: object


def corpus_members(cfg: TrainConfig, model_config) -> dict[str, list[Member]]:
    """The corpus's training splits, grouped by dataset name (one group per system, all
    resolutions), with walrus's history lengths and channel layouts."""
    groups: dict[str, list[Member]] = {}
    for entry in cfg.datasets:
        root = resolve_dataset_root(entry)
        probe = WellWindowDataset(root, split=entry.train_split)
        history = window_history(cfg, model_config, probe.n_spatial_dims == 3)
        train = WellWindowDataset(root, split=entry.train_split, n_steps_input=history, n_steps_output=1)
        layout = dataset_layout(train, model_config.field_names, declared_transforms(entry.name))
        groups.setdefault(entry.name, []).append(Member(entry.name, train, layout))
    return groups


def train_baseline(kind: str, members: list[Member], seconds: float, *, batch_size: int, seed: int = 0,
                   lr: float = 1e-3, progress: bool = True) -> tuple[torch.nn.Module, Channels, dict]:
    """Train one baseline on one system's training windows (every resolution it has) for `seconds`."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    n_dims = members[0].train.n_spatial_dims
    history = members[0].train.n_steps_input

    def draw() -> Batch:
        m = members[int(rng.integers(len(members)))]
        idx = rng.integers(len(m.train), size=batch_size)
        return collate([m.train[int(i)] for i in idx], m.layout, m.name)

    samples = [draw() for _ in range(8)]
    ch = channel_stats(samples, history, n_dims)
    resolution = tuple(_space(samples[0].x, n_dims).shape[-n_dims:])
    model = build_model(kind, ch, resolution)
    predictor = BaselinePredictor(model, ch)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)

    def step(batch: Batch, lr_now: float) -> float:
        for group in opt.param_groups:
            group["lr"] = lr_now
        model.train()
        target = _space((batch.future[0] - batch.x[-1, :, :batch.n_variable])[:, ch.keep], n_dims) \
            / _view(ch.delta_std, n_dims)
        loss = torch.nn.functional.mse_loss(predictor.normalised_delta(batch.x, batch), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        opt.step()
        return float(loss.detach())

    # the cosine schedule runs on the clock, so the whole budget is used whatever a step costs
    # (steps differ in cost between a system's resolutions)
    from tqdm.auto import tqdm

    losses = []
    start = time.perf_counter()
    with tqdm(total=round(seconds), desc=f"{kind} {members[0].name}", unit="s", disable=not progress,
              leave=False) as bar:
        while (elapsed := time.perf_counter() - start) < seconds or len(losses) < 3:
            losses.append(step(draw(), 0.5 * lr * (1 + math.cos(math.pi * min(elapsed / seconds, 1.0)))))
            bar.update(round(time.perf_counter() - start) - bar.n)
    elapsed = time.perf_counter() - start
    model.eval()
    info = dict(kind=kind, dataset=members[0].name, resolution=list(resolution), steps=len(losses),
                seconds=elapsed, budget_seconds=seconds, batch_size=batch_size, lr=lr, size=SIZES[kind][n_dims], history=history,
                parameters=sum(p.numel() for p in model.parameters()),
                loss_first=float(np.mean(losses[:3])), loss_last=float(np.mean(losses[-20:])))
    return model, ch, info


def save_baseline(path: Path, model: torch.nn.Module, ch: Channels, info: dict) -> None:
    """One file per baseline: weights, channel statistics and the training record (atomic)."""
    from walrus.atomic import atomic_path

    with atomic_path(path) as tmp:
        torch.save({"state_dict": model.state_dict(), "keep": ch.keep, "n_const": ch.n_const, "in_mean": ch.in_mean,
                    "in_std": ch.in_std, "delta_std": ch.delta_std, "info": json.dumps(info)}, tmp)


def load_baseline(path: Path) -> tuple[BaselinePredictor, dict]:
    blob = torch.load(path, map_location="cpu", weights_only=True)
    info = json.loads(blob["info"])
    n_dims = len(info["resolution"])
    ch = Channels(n_dims, info["history"], blob["keep"], int(blob["n_const"]), blob["in_mean"], blob["in_std"],
                  blob["delta_std"])
    model = build_model(info["kind"], ch, tuple(info["resolution"]))
    model.load_state_dict(blob["state_dict"])
    return BaselinePredictor(model, ch), info


def walrus_train_steps(log: Path) -> list[dict]:
    """The training-step records of a walrus run's log.jsonl (resumes included)."""
    with open(log) as f:
        return [r for r in map(json.loads, f) if r.get("event") == "train"]


def walrus_train_seconds(log: Path) -> float:
    """The seconds walrus spent in training steps, summed over the run's log (resumes included)."""
    return sum(float(r.get("seconds", 0.0)) for r in walrus_train_steps(log))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--corpus", type=Path, required=True, help="the pretraining config (its datasets)")
    budget = p.add_mutually_exclusive_group(required=True)
    budget.add_argument("--seconds", type=float, help="total wall-clock seconds per baseline kind")
    budget.add_argument("--seconds-from", type=Path, help="walrus's run log: give each kind the same seconds")
    p.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS)
    p.add_argument("--datasets", nargs="*", help="only these systems (default: every one in the corpus)")
    p.add_argument("--out", type=Path, default=Path("runs/baselines"))
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = TrainConfig.from_yaml(args.corpus)
    import walrus

    groups = corpus_members(cfg, walrus.get_model(cfg.preset, meta=True).config)
    names = args.datasets or list(groups)
    total = args.seconds if args.seconds is not None else walrus_train_seconds(args.seconds_from)
    per_system = total / len(groups)  # the walrus budget covers every system; baselines get an equal share each
    args.out.mkdir(parents=True, exist_ok=True)
    for kind in args.kinds:
        for name in names:
            members = groups[name]
            batch = cfg.batch_size_3d if members[0].train.n_spatial_dims == 3 else cfg.batch_size_2d
            if kind == "unet":  # UNetClassic's BatchNorm needs two values per channel at a 1-cell bottleneck (16^3)
                batch = max(batch, 2)
            model, ch, info = train_baseline(kind, members, per_system, batch_size=batch, seed=cfg.seed,
                                             progress=not args.quiet)
            info["walrus_total_seconds"] = total
            save_baseline(args.out / f"{kind}_{name}.pt", model, ch, info)
            print(json.dumps(info))


if __name__ == "__main__":
    main()
