"""The training configuration, read from YAML: one file drives `walrus train`, `walrus finetune`,
torchrun/FSDP2 and deepspeed runs alike."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import yaml


@dataclass
class DatasetConfig:
    """A corpus member: a registered dataset name, a Well dataset root (with data/<split>/), or both."""

    name: str
    path: str | None = None
    train_split: str = "train"
    valid_split: str = "valid"


@dataclass
class TrainConfig:
    datasets: list[DatasetConfig]
    out_dir: str = "runs/walrus"
    # model
    preset: str = "walrus-tiny"
    model_overrides: dict = field(default_factory=dict)
    init_from: str | None = None          # our checkpoint or the official walrus.pt
    new_fields: list[str] = field(default_factory=list)
    new_field_init: dict = field(default_factory=dict)
    freeze: list[str] = field(default_factory=list)   # parameter-name prefixes, e.g. ["embed", "blocks.0"]
    deterministic_model: bool = False
    # data
    history_2d: int | None = None         # default: the model config's (6)
    history_3d: int | None = None         # default: the model config's (3)
    batch_size_2d: int = 2
    batch_size_3d: int = 1
    max_dt_stride: int = 5
    augment: bool = True                  # the release's random proper rotation per micro-batch
    augment_reflections: bool = False     # draw from all 48 cube symmetries (pseudo-vector laws then matter)
    # optimisation (the release's recipe)
    epochs: int = 200
    steps_per_epoch: int = 2000
    lr: float = 2e-4
    weight_decay: float = 1e-4
    adam_eps: float = 1e-10
    grad_clip: float = 10.0
    grad_accumulation: int = 1
    loss_multiplier: float = 100.0
    warmup_epochs: int = 10
    cooldown_epochs: int = 10
    schedule_offset: float = 128.0
    # engine
    engine: str = "single"                # single | fsdp | deepspeed
    mesh: list[int] | None = None         # [replicate, shard]; default [1, world]
    sampling: str = "topology"            # topology | naive
    zero_stage: int = 2
    mixed_precision: str | None = None    # None | bf16
    device: str = "auto"
    # bookkeeping
    seed: int = 0
    checkpoint_every: int = 0             # steps; 0 = at every epoch end
    validate_every: int = 10              # epochs; 0 = never
    validation_batches: int = 20
    rollout_steps: int = 10
    tensorboard: bool = False
    progress: bool = True
    max_steps: int | None = None          # stop after this many optimizer steps (for tests/debugging)

    def __post_init__(self):
        self.datasets = [d if isinstance(d, DatasetConfig) else DatasetConfig(**d) for d in self.datasets]
        if not self.datasets:
            raise ValueError("datasets: the corpus needs at least one dataset")
        if self.engine not in ("single", "fsdp", "deepspeed"):
            raise ValueError(f"engine: expected single, fsdp or deepspeed, got {self.engine!r}")
        if self.sampling not in ("topology", "naive"):
            raise ValueError(f"sampling: expected topology or naive, got {self.sampling!r}")
        if self.zero_stage not in (1, 2, 3):
            raise ValueError(f"zero_stage: expected 1, 2 or 3, got {self.zero_stage}")

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides) -> "TrainConfig":
        raw = yaml.safe_load(Path(path).read_text()) or {}
        raw.update({k: v for k, v in overrides.items() if v is not None})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValueError(f"{path}: unknown training options {unknown}")
        return cls(**raw)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
