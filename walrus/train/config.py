"""The training configuration, read from YAML: one file drives `walrus train`, `walrus finetune`,
torchrun/FSDP2 and deepspeed runs alike.

Every value is checked when the config is built (from YAML or in Python), before any model,
data or process group exists: a wrong key, type or range is a `walrus.errors.ConfigError`
naming the key (``epochs``, ``datasets[1].path``, ``model_overrides.n_heads``), what it expects
and what it received; from a file, the error also names the file.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import numbers
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from walrus.errors import ConfigError

__all__ = ["DatasetConfig", "TrainConfig", "parse_settings", "ENGINES", "SAMPLINGS", "DATASET_BALANCES", "MIXED_PRECISIONS"]

ENGINES = ("single", "fsdp", "deepspeed")
SAMPLINGS = ("topology", "global", "naive")
DATASET_BALANCES = ("system", "entry")
MIXED_PRECISIONS = (None, "bf16")

#: what a corpus entry's `generate:` may set (walrus.data.generators.pipeline.generate_dataset)
GENERATE_KEYS = ("n_traj", "res", "steps", "seed")
#: the largest count any option takes (a guard against typos such as 1e30 and against int64 overflow)
MAX_COUNT = 10 ** 12
#: the largest config file read (a YAML config is a few hundred bytes)
MAX_CONFIG_BYTES = 1 << 20


def _received(value: Any) -> str:
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{text} ({type(value).__name__})"


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def parse_settings(items: list[str] | None) -> dict:
    """``KEY=VALUE`` strings (`walrus train --set`) as a mapping, each value read as YAML
    (``max_dt_stride=1`` is the integer 1, ``mesh=[1,2]`` a list, ``mixed_precision=null`` None).
    A malformed item is refused by name; unknown keys are refused later, as in a file."""
    settings = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise ConfigError("a setting is KEY=VALUE", field="--set", expected="e.g. --set max_dt_stride=1",
                              received=repr(item))
        if key == "datasets":
            raise ConfigError("datasets are set in the config file", field="--set",
                              expected="a top-level option other than datasets", received=repr(item))
        try:
            settings[key] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise ConfigError("the value is not valid YAML", field=f"--set {key}",
                              expected="a YAML scalar or list", received=repr(value)) from None
    return settings


def _did_you_mean(key: str, known) -> str | None:
    close = difflib.get_close_matches(str(key), list(known), n=1)
    return f"did you mean {close[0]!r}?" if close else None


def check_int(key: str, value: Any, low: int = 0, high: int = MAX_COUNT, *, optional: bool = False,
              what: str = "") -> None:
    if optional and value is None:
        return
    if not _is_int(value) or not low <= value <= high:
        raise ConfigError(field=key, expected=f"{'null or ' if optional else ''}an integer in [{low}, {high:,}]"
                          + (f" ({what})" if what else ""), received=_received(value))


def check_real(key: str, value: Any, low: float = 0.0, high: float = math.inf, *, low_open: bool = False,
               what: str = "") -> None:
    try:
        ok = _is_real(value) and math.isfinite(value) and (value > low if low_open else value >= low) and value <= high
    except (OverflowError, TypeError, ValueError):  # an int too large for a float, an exotic Real
        ok = False
    if not ok:
        bracket = "(" if low_open else "["
        upper = f"{high:g}]" if math.isfinite(high) else "inf)"
        raise ConfigError(field=key, expected=f"a finite number in {bracket}{low:g}, {upper}"
                          + (f" ({what})" if what else ""), received=_received(value))


def check_bool(key: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise ConfigError(field=key, expected="true or false", received=_received(value))


def check_str(key: str, value: Any, *, optional: bool = False, choices=None, what: str = "") -> None:
    if optional and value is None:
        return
    if choices is not None:
        if not (value is None or isinstance(value, str)) or value not in choices:
            raise ConfigError(field=key, expected="one of " + ", ".join("null" if c is None else repr(c) for c in choices),
                              received=_received(value), hint=_did_you_mean(value, [c for c in choices if c])
                              if isinstance(value, str) else None)
        return
    if not isinstance(value, str) or not value.strip() or "\x00" in value:
        raise ConfigError(field=key, expected=f"{'null or ' if optional else ''}a non-empty string"
                          + (f" ({what})" if what else ""), received=_received(value))


def check_str_list(key: str, value: Any, what: str = "") -> None:
    if not isinstance(value, (list, tuple)):
        raise ConfigError(field=key, expected=f"a list of strings{f' ({what})' if what else ''}",
                          received=_received(value))
    for i, item in enumerate(value):
        check_str(f"{key}[{i}]", item, what=what)


@dataclass
class DatasetConfig:
    """A corpus member: a registered dataset name, a Well dataset root (with data/<split>/), or both.

    A name without a ``path`` must be a dataset the plugins register (its files are found there);
    with a ``path`` the name may be any label. ``generate`` ({n_traj, res, steps, seed}, any
    subset) makes `walrus train` generate a registered generated dataset into ``path`` first when
    that directory holds no data yet (walrus.train.corpus). ``max_dt_stride`` replaces the
    config's largest time stride for this member alone (None: the config's).
    """

    name: str
    path: str | None = None
    train_split: str = "train"
    valid_split: str = "valid"
    generate: dict | None = None
    max_dt_stride: int | None = None

    def __post_init__(self):
        self.check("dataset")

    def check(self, key: str) -> None:
        check_str(f"{key}.name", self.name, what="a registered dataset, or any label when `path` is given")
        check_str(f"{key}.path", self.path, optional=True, what="the dataset root, holding data/<split>/")
        check_str(f"{key}.train_split", self.train_split)
        check_str(f"{key}.valid_split", self.valid_split)
        check_int(f"{key}.max_dt_stride", self.max_dt_stride, 1, 10_000, optional=True,
                  what="largest time stride between frames for this dataset")
        if self.generate is not None:
            self.check_generate(f"{key}.generate")
        if self.path is None:
            from walrus.plugins import datasets

            registered = sorted(datasets())
            if self.name not in registered:
                raise ConfigError("unknown dataset, and no path given", field=f"{key}.name",
                                  expected=f"a registered dataset ({', '.join(registered) or 'none registered'}) "
                                           "or a `path:` to a Well dataset root",
                                  received=repr(self.name), hint=_did_you_mean(self.name, registered))

    def check_generate(self, key: str) -> None:
        if not isinstance(self.generate, dict):
            raise ConfigError(field=key, expected=f"a mapping with keys among {GENERATE_KEYS}",
                              received=_received(self.generate))
        for k, v in self.generate.items():
            if k not in GENERATE_KEYS:
                raise ConfigError("unknown generation option", field=f"{key}.{k}", expected=f"one of {GENERATE_KEYS}",
                                  received=repr(k), hint=_did_you_mean(k, GENERATE_KEYS))
            low = {"n_traj": 3, "res": 8, "steps": 2, "seed": 0}[k]
            check_int(f"{key}.{k}", v, low, what="generation option")
        if self.path is None:
            raise ConfigError("`generate` needs a `path` to write the dataset to", field=f"{key[:-len('.generate')]}.path",
                              expected="a directory for the generated dataset", received="nothing")

    @classmethod
    def build(cls, key: str, entry: Any) -> "DatasetConfig":
        if isinstance(entry, DatasetConfig):
            entry.check(key)
            return entry
        if isinstance(entry, str):  # a bare name
            entry = {"name": entry}
        if not isinstance(entry, dict):
            raise ConfigError(field=key, expected="a mapping {name: ..., path: ...} (or a registered dataset name)",
                              received=_received(entry))
        known = [f.name for f in dataclasses.fields(cls)]
        for k in entry:
            if k not in known:
                raise ConfigError("unknown dataset option", field=f"{key}.{k}", expected=f"one of {known}",
                                  received=repr(k), hint=_did_you_mean(k, known))
        if "name" not in entry:
            raise ConfigError("missing dataset name", field=f"{key}.name", expected="a dataset name",
                              received=f"only {sorted(map(str, entry))}")
        obj = cls.__new__(cls)
        for f in dataclasses.fields(cls):
            setattr(obj, f.name, entry.get(f.name, f.default))
        obj.check(key)
        return obj


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
    num_workers: int | None = None        # DataLoader workers building micro-batches ahead; None: 2 on CUDA, 0 on CPU
    prefetch_factor: int = 2              # micro-batches each worker keeps ready (with num_workers >= 1)
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
    sampling: str = "topology"            # topology (one dataset per shard group) | global (one for all ranks) | naive
    dataset_balance: str = "system"       # system: each dataset name equally often (its resolutions share) | entry
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
        self.validate()

    # ------------------------------------------------------------------ checks
    def validate(self) -> None:
        """Check every value; raise `ConfigError` naming the first wrong one."""
        if not isinstance(self.datasets, (list, tuple)):
            raise ConfigError(field="datasets", expected="a list of datasets ({name: ..., path: ...})",
                              received=_received(self.datasets))
        if not self.datasets:
            raise ConfigError("the corpus needs at least one dataset", field="datasets",
                              expected="a non-empty list", received="[]")
        if len(self.datasets) > 10_000:
            raise ConfigError(field="datasets", expected="at most 10,000 datasets", received=f"{len(self.datasets)}")
        self.datasets = [DatasetConfig.build(f"datasets[{i}]", d) for i, d in enumerate(self.datasets)]
        # one system may appear several times (e.g. at two resolutions), each time with its own files
        members = [(d.name, d.path) for d in self.datasets]
        dup = next((m for m in members if members.count(m) > 1), None)
        if dup is not None:
            raise ConfigError("a dataset is listed twice", field="datasets",
                              expected="distinct (name, path) pairs", received=f"{dup[0]!r} at path {dup[1]!r} "
                                                                               f"{members.count(dup)} times")

        check_str("out_dir", self.out_dir, what="the run directory")
        self._check_model()
        check_int("history_2d", self.history_2d, 1, 64, optional=True, what="input frames of 2-D data")
        check_int("history_3d", self.history_3d, 1, 64, optional=True, what="input frames of 3-D data")
        check_int("batch_size_2d", self.batch_size_2d, 1, 65_536)
        check_int("batch_size_3d", self.batch_size_3d, 1, 65_536)
        check_int("max_dt_stride", self.max_dt_stride, 1, 10_000, what="largest time stride between frames")
        check_int("num_workers", self.num_workers, 0, 256, optional=True,
                  what="input-pipeline worker processes; 0 = build batches in the training loop")
        check_int("prefetch_factor", self.prefetch_factor, 1, 1024, what="micro-batches prefetched per worker")
        for key in ("augment", "augment_reflections", "deterministic_model", "tensorboard", "progress"):
            check_bool(key, getattr(self, key))

        check_int("epochs", self.epochs, 1, 10 ** 7)
        check_int("steps_per_epoch", self.steps_per_epoch, 1)
        check_real("lr", self.lr, 0.0, 10.0, low_open=True, what="the base learning rate")
        check_real("weight_decay", self.weight_decay, 0.0, 10.0)
        check_real("adam_eps", self.adam_eps, 0.0, 1.0, low_open=True)
        check_real("grad_clip", self.grad_clip, 0.0, 1e12, low_open=True, what="the gradient-norm clip")
        check_int("grad_accumulation", self.grad_accumulation, 1, 10 ** 6)
        check_real("loss_multiplier", self.loss_multiplier, 0.0, 1e12, low_open=True)
        check_int("warmup_epochs", self.warmup_epochs, 0, 10 ** 7)
        check_int("cooldown_epochs", self.cooldown_epochs, 0, 10 ** 7)
        if self.warmup_epochs + self.cooldown_epochs > self.epochs:  # the schedule would turn negative
            raise ConfigError("warmup and cooldown do not fit in the run", field="warmup_epochs, cooldown_epochs",
                              expected=f"warmup_epochs + cooldown_epochs <= epochs ({self.epochs})",
                              received=f"{self.warmup_epochs} + {self.cooldown_epochs}")
        check_real("schedule_offset", self.schedule_offset, 0.0, 1e12)

        check_str("engine", self.engine, choices=ENGINES)
        if self.mesh is not None:
            if not (isinstance(self.mesh, (list, tuple)) and len(self.mesh) == 2):
                raise ConfigError(field="mesh", expected="null or [replicate, shard]: two integers >= 1",
                                  received=_received(self.mesh))
            for i, n in enumerate(self.mesh):
                check_int(f"mesh[{i}]", n, 1, 1 << 20, what="replicate" if i == 0 else "shard")
            self.mesh = [int(n) for n in self.mesh]
        check_str("sampling", self.sampling, choices=SAMPLINGS)
        check_str("dataset_balance", self.dataset_balance, choices=DATASET_BALANCES)
        if not (_is_int(self.zero_stage) and self.zero_stage in (1, 2, 3)):
            raise ConfigError(field="zero_stage", expected="1, 2 or 3 (DeepSpeed ZeRO stage)",
                              received=_received(self.zero_stage))
        if self.engine == "deepspeed" and self.zero_stage == 3:
            # ZeRO-3 gathers each module's weights collectively as the module runs, over all ranks:
            # every rank must run the same modules, i.e. draw the same dataset (2-D or 3-D) per step.
            if self.sampling == "naive":
                raise ConfigError("DeepSpeed ZeRO-3 needs every rank to draw the same dataset", field="sampling",
                                  expected="topology or global (with engine deepspeed and zero_stage 3)",
                                  received=_received(self.sampling))
            if self.mesh is not None and self.mesh[0] != 1 and self.sampling != "global":
                raise ConfigError("DeepSpeed ZeRO-3 shards over all ranks: one shard group", field="mesh",
                                  expected="null or [1, world size] (with engine deepspeed and zero_stage 3)",
                                  received=_received(self.mesh))
        check_str("mixed_precision", self.mixed_precision, choices=MIXED_PRECISIONS)
        self._check_device()

        check_int("seed", self.seed, 0, 2 ** 63 - 1)
        check_int("checkpoint_every", self.checkpoint_every, 0, what="steps; 0 = at every epoch end")
        # Optimizer steps (and so checkpoints) fall every grad_accumulation micro-steps, counted from
        # the run's start: an epoch or a checkpoint inside a cycle would lose (or, under DeepSpeed's
        # own count, shift) the gradients accumulated so far.
        for key in ("steps_per_epoch", "checkpoint_every"):
            if getattr(self, key) % self.grad_accumulation:
                raise ConfigError("must hold whole gradient-accumulation cycles", field=key,
                                  expected=f"a multiple of grad_accumulation ({self.grad_accumulation})",
                                  received=str(getattr(self, key)))
        check_int("validate_every", self.validate_every, 0, what="epochs; 0 = never")
        check_int("validation_batches", self.validation_batches, 1, 10 ** 9)
        check_int("rollout_steps", self.rollout_steps, 1, 10 ** 6)
        check_int("max_steps", self.max_steps, 1, optional=True, what="optimizer steps")

    def _check_model(self) -> None:
        from walrus.model.config import get_preset, list_models

        presets = list_models()
        if self.preset not in presets:
            raise ConfigError("unknown model preset", field="preset", expected=f"one of {presets}",
                              received=_received(self.preset),
                              hint=_did_you_mean(self.preset, presets) if isinstance(self.preset, str) else None)
        check_str("init_from", self.init_from, optional=True, what="a checkpoint file")
        if not isinstance(self.model_overrides, dict):
            raise ConfigError(field="model_overrides", expected="a mapping of model config keys to values",
                              received=_received(self.model_overrides))
        base = get_preset(self.preset).config
        known = [f.name for f in dataclasses.fields(base)]
        for key, value in self.model_overrides.items():
            name = f"model_overrides.{key}"
            if key not in known:
                raise ConfigError("unknown model config key", field=name, expected=f"one of {known}",
                                  received=repr(key), hint=_did_you_mean(key, known))
            default = getattr(base, key)
            if isinstance(default, bool):
                check_bool(name, value)
            elif isinstance(default, int):
                check_int(name, value, 0 if key == "gradient_checkpointing_freq" else 1, 65_536)
            elif isinstance(default, float):
                check_real(name, value, 0.0, 1.0 if key.endswith("drop") or key == "drop_path" else 1e12)
            elif isinstance(default, tuple):
                if not isinstance(value, (list, tuple)) or not value:
                    raise ConfigError(field=name, expected=f"a list like {list(default)[:4]}", received=_received(value))
                for i, item in enumerate(value):
                    if type(item) is not type(default[0]) or (_is_int(item) and not 1 <= item <= 1024):
                        raise ConfigError(field=f"{name}[{i}]", expected=f"a {type(default[0]).__name__}"
                                          + (" in [1, 1024]" if isinstance(default[0], int) else ""),
                                          received=_received(item))
        try:
            base.replace(**{k: tuple(v) if isinstance(v, list) else v for k, v in self.model_overrides.items()})
        except (TypeError, ValueError, ZeroDivisionError) as exc:  # WalrusErrors of the model config included
            raise ConfigError("the model config these overrides give is invalid", field="model_overrides",
                              expected=f"a valid {self.preset} configuration", received=str(exc)) from None
        check_str_list("new_fields", self.new_fields, what="field names appended to the vocabulary")
        if not isinstance(self.new_field_init, dict):
            raise ConfigError(field="new_field_init", expected="a mapping {new field: existing field}",
                              received=_received(self.new_field_init))
        for key, value in self.new_field_init.items():
            check_str(f"new_field_init.{key}", value, what="an existing field whose columns seed the new one")
            if key not in self.new_fields:
                raise ConfigError("initialises a field that new_fields does not add", field=f"new_field_init.{key}",
                                  expected=f"one of new_fields {list(self.new_fields)}", received=repr(key))
        check_str_list("freeze", self.freeze, what="parameter-name prefixes")

    def _check_device(self) -> None:
        check_str("device", self.device, what="auto, cpu, cuda or cuda:N")
        if self.device == "auto":
            return
        import torch

        try:
            torch.device(self.device)
        except (RuntimeError, ValueError, TypeError):
            raise ConfigError(field="device", expected="auto, cpu, cuda or cuda:N (a torch device)",
                              received=_received(self.device)) from None

    # ------------------------------------------------------------------ reading
    @classmethod
    def from_dict(cls, raw: Any, *, source: str | None = None) -> "TrainConfig":
        """A config from a mapping (as read from YAML); unknown or missing keys are refused by name."""
        where = f"in {source}" if source else None
        if not isinstance(raw, dict):
            raise ConfigError("a training config is a mapping of options", field=source or "config",
                              expected="a YAML mapping (key: value lines)", received=_received(raw))
        known = [f.name for f in dataclasses.fields(cls)]
        for key in raw:
            if key not in known:
                raise ConfigError("unknown training option", field=str(key), expected=f"one of {known}",
                                  received=repr(key), hint="; ".join(x for x in (_did_you_mean(key, known), where) if x))
        if "datasets" not in raw:
            raise ConfigError("missing required option", field="datasets",
                              expected="a list of datasets ({name: ..., path: ...})", received="no `datasets:` key",
                              hint=where)
        try:
            return cls(**raw)
        except ConfigError as exc:
            if source is None:
                raise
            raise ConfigError(exc.message, field=exc.field, expected=exc.expected, received=exc.received,
                              hint="; ".join(x for x in (exc.hint, where) if x)) from None

    @classmethod
    def from_yaml(cls, path: str | Path, settings: dict | None = None, **overrides) -> "TrainConfig":
        """Read a YAML config; keyword ``overrides`` (None = keep the file's) replace its values, and
        then ``settings`` (`walrus train --set key=value`; None there is a value, YAML's null)."""
        try:
            path = Path(os.fspath(path))
        except TypeError:
            raise ConfigError(field="config", expected="a path to a YAML file", received=_received(path)) from None
        try:
            size = path.stat().st_size
            if not path.is_file():
                raise IsADirectoryError(path)
            if size > MAX_CONFIG_BYTES:
                raise ConfigError("config file too large", field="config",
                                  expected=f"a YAML file of at most {MAX_CONFIG_BYTES:,} bytes",
                                  received=f"{path} of {size:,} bytes")
            text = path.read_bytes().decode("utf-8")
        except ConfigError:
            raise
        except UnicodeDecodeError as exc:
            raise ConfigError("config file is not UTF-8 text", field="config", expected="a UTF-8 YAML file",
                              received=f"{path} (byte {exc.start}: {exc.object[exc.start:exc.start + 1]!r})") from None
        except (OSError, ValueError) as exc:
            raise ConfigError("cannot read config file", field="config", expected="a readable YAML file",
                              received=f"{path} ({type(exc).__name__}: {exc.strerror or exc})"
                              if isinstance(exc, OSError) else f"{path} ({exc})") from None
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise ConfigError("config file is not valid YAML", field="config", expected="a YAML mapping",
                              received=f"{path}: {problem}{at}") from None
        except RecursionError:
            raise ConfigError("config file is nested too deeply", field="config", expected="a YAML mapping",
                              received=str(path)) from None
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise ConfigError("a training config is a mapping of options", field="config",
                              expected="a YAML mapping (key: value lines)",
                              received=f"{path} holds a {type(raw).__name__}")
        raw = dict(raw)
        raw.update({k: v for k, v in overrides.items() if v is not None})
        raw.update(settings or {})
        return cls.from_dict(raw, source=str(path) + (" with --set " + ", ".join(settings) if settings else ""))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
