"""The training loop: corpus, sampler, engine, loss, schedule, validation, logs and checkpoints."""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from tqdm.auto import tqdm

import walrus
from walrus.data.well_dataset import WellWindowDataset
from walrus.model.checkpoint import extend_vocabulary, load_any, save_checkpoint
from walrus.model.normalization import normalize_input, rms_stats
from walrus.hooks import SymmetryRule
from walrus.layout import ChannelLayout
from walrus.train.augmentation import ROTATABLE_GRIDS, layout_rules
from walrus.train.batching import Batch, collate, dataset_layout
from walrus.train.checkpointing import (full_model_state, latest_checkpoint, load_training_checkpoint,
                                        save_training_checkpoint, training_checkpoint_model)
from walrus.train.config import DatasetConfig, TrainConfig
from walrus.train.distributed import (DeepSpeedEngine, DistInfo, FSDPEngine, SingleEngine, init_distributed,
                                      pick_device)
from walrus.train.evaluation import rollout_vrmse, walrus_predictor
from walrus.train.loss import delta_l1_loss
from walrus.train.loader import MicroBatchLoader, resolve_num_workers
from walrus.train.sampler import MultisetSampler
from walrus.train.schedule import warmup_invsqrt_cooldown


@dataclass
class CorpusMember:
    name: str
    train: WellWindowDataset
    valid: WellWindowDataset | None
    layout: ChannelLayout
    batch_size: int
    rules: dict[str, SymmetryRule] | None = None  # tensor laws for augmentation; None: not rotated


def resolve_dataset_root(entry: DatasetConfig) -> Path:
    """A dataset's root: the given path, or the registered dataset's path from the plugins."""
    if entry.path:
        root = Path(entry.path)
    else:
        from walrus.plugins import get_registry

        spec = get_registry().dataset(entry.name)
        location = getattr(spec, "path", None)
        if not location:
            raise FileNotFoundError(
                f"dataset {entry.name!r} has no files on disk; generate them with "
                f"`walrus generate {entry.name} --out DIR` and give that DIR as its path")
        root = Path(location)
    if not (root / "data" / entry.train_split).is_dir():
        raise FileNotFoundError(f"dataset {entry.name!r}: no {root / 'data' / entry.train_split} directory of Well files")
    return root


def window_history(cfg: TrainConfig, model_config, three_d: bool) -> int:
    """Input frames per window: the config's override, else the model's own (6 in 2-D, 3 in 3-D)."""
    if three_d:
        return cfg.history_3d or model_config.history_3d
    return cfg.history_2d or model_config.history_2d


def declared_transforms(name: str) -> dict[str, str]:
    """The field transforms a registered dataset declares (stored field -> the field the model
    sees); none for datasets the plugins do not know."""
    from walrus.plugins import get_registry

    try:
        return dict(get_registry().dataset(name).transforms)
    except KeyError:
        return {}


def entry_max_dt_stride(entry: DatasetConfig, cfg: TrainConfig) -> int:
    """The largest time stride a corpus member trains with: its own, else the config's."""
    return cfg.max_dt_stride if entry.max_dt_stride is None else entry.max_dt_stride


def dataset_weights(names: list[str], balance: str) -> list[float]:
    """The sampler's weight of each corpus entry. `system`: a system listed at several resolutions
    shares one system's share among its entries, so every physical system trains equally often;
    `entry`: every entry counts alone (a two-resolution system is drawn twice as often)."""
    if balance == "entry":
        return [1.0] * len(names)
    return [1.0 / names.count(name) for name in names]


def sampling_group(sampling: str, info: DistInfo) -> int:
    """The sampler's group: ranks with the same group draw the same dataset each step. A shard
    group ("topology", the release's), every rank ("global": no group waits on another's 3-D batch
    at any scale), or each rank alone ("naive")."""
    return {"topology": info.shard_group, "global": 0}.get(sampling, info.rank)


def grid_type(dataset: WellWindowDataset) -> str:
    """The grid type a Well dataset's files declare (cartesian, spherical, ...)."""
    from walrus.io.well_check import attr_str, open_well

    with open_well(dataset.files[0].path) as f:  # validated at the dataset's scan, guarded like every read
        return attr_str(f.attrs["grid_type"])


def build_model(cfg: TrainConfig) -> walrus.Walrus:
    if cfg.init_from and Path(cfg.init_from).is_dir():  # a training checkpoint (DCP shards from any world size)
        model = training_checkpoint_model(cfg.init_from)
    elif cfg.init_from:
        config = walrus.get_preset(cfg.preset).config.replace(**cfg.model_overrides)
        # master weights train in float32 whatever the file stores (the shipped model is bfloat16)
        model = load_any(cfg.init_from, config=config, dtype=torch.float32)
    else:
        model = walrus.get_model(cfg.preset, **cfg.model_overrides)
    if cfg.new_fields:
        model = extend_vocabulary(model, cfg.new_fields, init_from=cfg.new_field_init)
    for name, param in model.named_parameters():
        if any(name == p or name.startswith(p + ".") for p in cfg.freeze):
            param.requires_grad_(False)
    model.deterministic = cfg.deterministic_model
    return model


class Trainer:
    def __init__(self, cfg: TrainConfig):
        self.cfg = cfg
        # Launch order: this rank's GPU (LOCAL_RANK from the launcher's environment) is bound
        # before the process group exists or anything touches CUDA; then NCCL (GPU) or gloo (CPU).
        self.device = pick_device(cfg.device)
        self.info: DistInfo = init_distributed(self.device, tuple(cfg.mesh) if cfg.mesh else None)
        self.out = Path(cfg.out_dir)
        if self.info.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(cfg.seed)  # the same initial weights on every rank
        self.model = build_model(cfg).to(self.device)
        # Ranks may draw 2-D and 3-D batches in one step: keep both encoder pairs in every
        # backward so the sharded gradient collectives match across ranks.
        self.model.keep_all_parameters_in_graph = self.info.world_size > 1
        self.corpus = [self._member(entry) for entry in cfg.datasets]
        self.engine = self._engine()
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.engine.optimizer,
            lambda e: warmup_invsqrt_cooldown(e, cfg.epochs, cfg.warmup_epochs, cfg.cooldown_epochs, cfg.schedule_offset))
        group = sampling_group(cfg.sampling, self.info)
        self.sampler = MultisetSampler([len(m.train) for m in self.corpus], [m.batch_size for m in self.corpus],
                                       cfg.steps_per_epoch, cfg.seed, self.info.rank, group,
                                       weights=dataset_weights([e.name for e in cfg.datasets], cfg.dataset_balance))
        self.epoch, self.step, self.global_step = 0, 0, 0
        self.log_path = self.out / "log.jsonl"
        self.tb = None
        if cfg.tensorboard and self.info.is_main:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(self.out / "tensorboard"))

    # ---------------------------------------------------------------- setup
    def _member(self, entry: DatasetConfig) -> CorpusMember:
        root = resolve_dataset_root(entry)
        probe = WellWindowDataset(root, split=entry.train_split)
        three_d = probe.n_spatial_dims == 3
        history = window_history(self.cfg, self.model.config, three_d)
        train = WellWindowDataset(root, split=entry.train_split, n_steps_input=history, n_steps_output=1,
                                  min_dt_stride=1, max_dt_stride=entry_max_dt_stride(entry, self.cfg))
        valid = None
        if (root / "data" / entry.valid_split).is_dir():
            shortest = min(f.n_steps for f in WellWindowDataset(root, split=entry.valid_split).files)
            rollout = min(self.cfg.rollout_steps, shortest - history)
            if rollout >= 1:
                valid = WellWindowDataset(root, split=entry.valid_split, n_steps_input=history,
                                          n_steps_output=rollout)
        if len(train) == 0:
            raise ValueError(f"dataset {entry.name!r}: trajectories are too short for a {history}+1 frame window")
        layout = dataset_layout(train, self.model.config.field_names, declared_transforms(entry.name))
        rules = layout_rules(layout) if grid_type(train) in ROTATABLE_GRIDS else None
        return CorpusMember(entry.name, train, valid, layout, self.cfg.batch_size_3d if three_d else self.cfg.batch_size_2d,
                            rules)

    def _optimizer(self, params) -> torch.optim.Optimizer:
        cfg = self.cfg
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, eps=cfg.adam_eps)

    def _engine(self):
        cfg = self.cfg
        optimizer = self._optimizer
        if cfg.engine == "fsdp":
            return FSDPEngine(self.model, optimizer, cfg.grad_clip, self.info, self.device, cfg.mixed_precision)
        if cfg.engine == "deepspeed":
            extra = {"bf16": {"enabled": True}} if cfg.mixed_precision == "bf16" else {}
            # DeepSpeed accumulates itself (gradient_accumulation_steps); its micro-batch size is
            # the 2-D one (3-D micro-batches hold about as many tokens, the release's balance).
            return DeepSpeedEngine(self.model, optimizer, cfg.grad_clip, cfg.zero_stage, extra,
                                   grad_accumulation=cfg.grad_accumulation, micro_batch_size=cfg.batch_size_2d)
        return SingleEngine(self.model, optimizer, cfg.grad_clip)

    # ---------------------------------------------------------------- one step
    def micro_batch(self, draw) -> Batch:
        """The batch of `draw` on the device: built here (num_workers 0) or taken from the input
        pipeline's workers, which build the next draws' batches ahead (walrus.train.loader)."""
        if self.__dict__.get("loader") is None:
            cfg = self.cfg
            self.loader = MicroBatchLoader(self.corpus, self.sampler, cfg.epochs,
                                           resolve_num_workers(cfg.num_workers, self.device), cfg.prefetch_factor,
                                           cfg.augment, cfg.augment_reflections, pin_memory=self.device.type == "cuda")
        limit = None if self.cfg.max_steps is None else max(1, self.cfg.max_steps - self.global_step)
        return self.loader.batch(draw, limit).to(self.device)

    def loss(self, batch, seed: int) -> torch.Tensor:
        stats = rms_stats(batch.x, self.model.config.rms_eps)
        out = self.engine.module(normalize_input(batch.x, stats), batch.field_ids, batch.bcs,
                                 generator=torch.Generator().manual_seed(seed))
        n_var = batch.n_variable
        return delta_l1_loss(out[:, :, :n_var], batch.x[:, :, :n_var], batch.future, stats, batch.padded_mask,
                             multiplier=self.cfg.loss_multiplier, inside_mask=batch.inside_mask)

    def train_micro_step(self, batch: Batch, seed: int, boundary: bool) -> tuple[float, float]:
        """Forward and backward of one micro-batch, and the optimizer step at the end of an
        accumulation cycle (`boundary`, every `grad_accumulation` micro-batches); returns the
        micro-batch's loss and the gradient norm (NaN between optimizer steps).

        An engine that accumulates itself (DeepSpeed: `engine.accumulates`) gets the plain loss and
        a `step()` call every micro-batch; it scales the loss and finds the boundary by its own
        count. Otherwise the loss is divided by `grad_accumulation` here and `step()` is called
        only at the boundary. Either way the step equals one on a `grad_accumulation` times larger
        batch (tested)."""
        loss = self.loss(batch, seed)
        if getattr(self.engine, "accumulates", False):
            self.engine.backward(loss)
            grad_norm = self.engine.step()
        else:
            self.engine.backward(loss / self.cfg.grad_accumulation)
            grad_norm = self.engine.step() if boundary else float("nan")
        return float(loss.detach()), grad_norm

    # ---------------------------------------------------------------- the loop
    def resume(self) -> bool:
        path = latest_checkpoint(self.out / "checkpoints")
        if path is None:
            return False
        progress = load_training_checkpoint(path, self.engine, self.scheduler)
        self.epoch, self.step, self.global_step = progress["epoch"], progress["step"], progress["global_step"]
        self._log(dict(event="resumed", checkpoint=path.name, epoch=self.epoch, step=self.step))
        return True

    def save(self) -> Path:
        progress = dict(epoch=self.epoch, step=self.step, global_step=self.global_step, config=self.cfg.to_dict())
        return save_training_checkpoint(self.out / "checkpoints", self.engine, self.scheduler, progress,
                                        self.info.is_main)

    def fit(self) -> list[float]:
        """Train from scratch or from the newest checkpoint in out_dir; returns this run's losses."""
        cfg = self.cfg
        self.resume()
        losses = []
        total = cfg.epochs * cfg.steps_per_epoch
        if cfg.max_steps is not None:  # the bar (its ETA) ends where this run stops
            total = min(total, cfg.max_steps)
        bar = tqdm(total=total, initial=self.global_step, disable=not (cfg.progress and self.info.is_main),
                   desc="train", unit="step", dynamic_ncols=True)
        self.engine.module.train()
        while self.epoch < cfg.epochs:
            for step, draw in self.sampler.epoch(self.epoch, self.step):
                if cfg.max_steps is not None and self.global_step >= cfg.max_steps:
                    bar.close()
                    return losses
                start = time.perf_counter()
                batch = self.micro_batch(draw)
                value, grad_norm = self.train_micro_step(batch, draw.stride_seed,
                                                         boundary=(step + 1) % cfg.grad_accumulation == 0)
                losses.append(value)
                self.step, self.global_step = step + 1, self.global_step + 1
                self._log(dict(event="train", epoch=self.epoch, step=step, global_step=self.global_step,
                               loss=value, grad_norm=grad_norm, lr=self.scheduler.get_last_lr()[0],
                               dataset=batch.dataset, seconds=time.perf_counter() - start))
                bar.update(1)
                bar.set_postfix(loss=f"{value:.4g}", data=batch.dataset)
                if cfg.checkpoint_every and self.global_step % cfg.checkpoint_every == 0:
                    self.save()
            self.epoch, self.step = self.epoch + 1, 0
            self.scheduler.step()
            if not cfg.checkpoint_every:
                self.save()
            if cfg.validate_every and self.epoch % cfg.validate_every == 0:
                self.validate()
                self.engine.module.train()
        bar.close()
        return losses

    # ---------------------------------------------------------------- validation
    @torch.no_grad()
    def validate(self) -> dict:
        """One-step and rollout VRMSE per dataset and field, the rollout over log-spaced windows."""
        self.engine.module.eval()
        results = {}
        for member in self.corpus:
            if member.valid is None or len(member.valid) == 0:
                continue
            n = min(len(member.valid), self.cfg.validation_batches)
            per_step = []
            for i in range(n):
                batch = collate([member.valid[i]], member.layout, member.name).to(self.device)
                per_step.append(rollout_vrmse(walrus_predictor(self.engine.module, seed=i), batch))
            errors = torch.stack(per_step).mean(0)  # (steps, C_real)
            names = [nm for nm, keep in zip(member.layout.names, member.layout.padded_mask.tolist()) if keep]
            row = {"one_step": {nm: float(errors[0, c]) for c, nm in enumerate(names)}}
            steps = errors.shape[0]
            edges = sorted({0, *[int(v) for v in np.exp(np.linspace(0, math.log(steps), 5))], steps})
            for a, b in zip(edges[:-1], edges[1:]):
                row[f"rollout_T={a}:{b}"] = {nm: float(errors[a:b, c].mean()) for c, nm in enumerate(names)}
            row["full_vrmse"] = float(errors.mean())
            # a system listed twice (e.g. two resolutions) is scored per member, named by its directory
            key = member.name if member.name not in results else \
                f"{member.name} ({Path(member.train.files[0].path).parents[2].name})"
            results[key] = row
        self._log(dict(event="validation", epoch=self.epoch, global_step=self.global_step, metrics=results))
        return results

    # ---------------------------------------------------------------- outputs
    def export(self, path: Path | None = None) -> Path | None:
        """The trained model as one safetensors file with metadata (collective for sharded engines)."""
        state = full_model_state(self.engine)
        if state is None:
            return None
        config = self.model.config
        with torch.device("meta"):
            model = walrus.Walrus(config)
        model.load_state_dict({k: v.float() for k, v in state.items()}, strict=True, assign=True)
        path = path or self.out / "model.safetensors"
        return save_checkpoint(model, path, preset=self.cfg.preset,
                               metadata={"datasets": [m.name for m in self.corpus], "global_step": self.global_step,
                                         "transforms": {m.name: {f.name: f.model_field for f in m.layout.fields
                                                                 if f.model_field != f.name} for m in self.corpus}})

    def _log(self, record: dict) -> None:
        if not self.info.is_main:
            return
        record = dict(record, time=time.time())
        with open(self.log_path, "a") as f:
            f.write(json.dumps(record) + "\n")
        if self.tb is not None and record.get("event") == "train":
            self.tb.add_scalar("train/loss", record["loss"], record["global_step"])
            self.tb.add_scalar("train/lr", record["lr"], record["global_step"])

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
        if dist.is_initialized():
            dist.barrier()
