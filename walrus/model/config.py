"""Model configuration and the named presets.

A `WalrusConfig` holds every number needed to rebuild a network, so a saved checkpoint carries
its config and can be reloaded without constructor arguments.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass, field

from walrus.errors import ConfigError, UnknownModelError
from walrus.model.vocabulary import RELEASE_FIELD_NAMES

CONFIG_FORMAT_VERSION = 1

#: Sane bounds of every integer config field (inclusive). They sit far above any model that fits a
#: machine (the release: 1408 wide, 40 blocks, 16 heads, 67 fields) and exist so that a corrupt or
#: hostile checkpoint's metadata is refused before anything is built or allocated.
INT_BOUNDS: dict[str, tuple[int, int]] = {
    "hidden_dim": (1, 1 << 16),
    "intermediate_dim": (1, 1 << 16),
    "n_blocks": (0, 512),
    "n_heads": (1, 1024),
    "groups": (1, 1 << 16),
    "mlp_ratio": (1, 64),
    "gradient_checkpointing_freq": (0, 512),
    "time_buckets": (1, 4096),
    "time_max_distance": (1, 1 << 20),
    "tokens_per_axis_2d": (1, 4096),
    "tokens_per_axis_3d": (1, 4096),
    "history_2d": (1, 4096),
    "history_3d": (1, 4096),
}
#: Bounds of the float fields: (low, high, low inclusive).
FLOAT_BOUNDS: dict[str, tuple[float, float, bool]] = {
    "drop_path": (0.0, 1.0, True),
    "input_field_drop": (0.0, 1.0, True),
    "rope_max_freq": (0.0, 1e9, False),
    "rms_eps": (0.0, 1.0, False),
}
MAX_FIELDS = 1 << 16       # vocabulary size
MAX_KERNEL = 64            # base_kernels entries
MAX_FIELD_NAME = 256       # characters of one field name


def _check_bounds(cfg: "WalrusConfig") -> None:
    for name, (lo, hi) in INT_BOUNDS.items():
        v = getattr(cfg, name)
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):
            raise ConfigError("must be an integer", field=name, expected=f"an int in [{lo}, {hi}]",
                              received=repr(v)[:80])
        if not lo <= v <= hi:
            raise ConfigError("out of bounds", field=name, expected=f"an int in [{lo}, {hi}]", received=v)
    for name, (lo, hi, closed) in FLOAT_BOUNDS.items():
        v = getattr(cfg, name)
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v) \
                or not ((lo <= v) if closed else (lo < v)) or v > hi:
            raise ConfigError("out of bounds", field=name,
                              expected=f"a finite number in {'[' if closed else '('}{lo}, {hi}]",
                              received=repr(v)[:80])
    if not isinstance(cfg.jitter_patches, bool):
        raise ConfigError("must be a bool", field="jitter_patches", expected="True or False",
                          received=repr(cfg.jitter_patches)[:80])
    names = cfg.field_names
    if isinstance(names, (str, bytes)) or not hasattr(names, "__len__") or not hasattr(names, "__iter__"):
        raise ConfigError("must be a sequence of names", field="field_names", expected="a list of str",
                          received=type(names).__name__)
    if not 4 <= len(names) <= MAX_FIELDS:
        raise ConfigError("vocabulary size out of bounds", field="field_names",
                          expected=f"the three flag slots plus 1 to {MAX_FIELDS - 3} fields", received=len(names))
    for n in names:
        if not isinstance(n, str) or not 0 < len(n) <= MAX_FIELD_NAME:
            raise ConfigError("field names must be non-empty strings", field="field_names",
                              expected=f"str of 1 to {MAX_FIELD_NAME} characters", received=repr(n)[:80])
    kernels = cfg.base_kernels
    if isinstance(kernels, (str, bytes)) or not hasattr(kernels, "__len__") or len(kernels) != 2 or any(
            isinstance(k, bool) or not isinstance(k, numbers.Integral) or not 1 <= k <= MAX_KERNEL
            for k in kernels):
        raise ConfigError("must be two kernel sizes", field="base_kernels",
                          expected=f"two ints in [1, {MAX_KERNEL}]", received=repr(kernels)[:80])


@dataclass(frozen=True)
class WalrusConfig:
    """Sizes and switches of the space-time factorised network (ARCHITECTURE.md §2)."""

    hidden_dim: int = 1408
    intermediate_dim: int = 352
    n_blocks: int = 40
    n_heads: int = 16
    groups: int = 16
    field_names: tuple[str, ...] = RELEASE_FIELD_NAMES
    base_kernels: tuple[int, int] = (8, 4)
    mlp_ratio: int = 4
    drop_path: float = 0.05
    input_field_drop: float = 0.0
    jitter_patches: bool = True
    gradient_checkpointing_freq: int = 2
    time_buckets: int = 32
    time_max_distance: int = 32
    rope_max_freq: float = 128.0
    tokens_per_axis_2d: int = 32
    tokens_per_axis_3d: int = 16
    history_2d: int = 6
    history_3d: int = 3
    rms_eps: float = 1e-5

    def __post_init__(self) -> None:
        _check_bounds(self)
        if self.hidden_dim % self.n_heads:
            raise ConfigError(f"hidden_dim {self.hidden_dim} is not divisible by n_heads {self.n_heads}",
                              field="n_heads")
        if self.hidden_dim % self.groups or self.intermediate_dim % self.groups:
            raise ConfigError(
                f"hidden_dim {self.hidden_dim} and intermediate_dim {self.intermediate_dim} "
                f"must both be divisible by groups {self.groups}", field="groups"
            )
        if self.head_dim % 8 or self.head_dim < 16:
            raise ConfigError(
                f"head_dim = hidden_dim / n_heads = {self.head_dim}: axial RoPE needs a multiple of 8, at least 16",
                field="hidden_dim"
            )
        if len(set(self.field_names)) != len(self.field_names):
            raise ConfigError("field_names must be unique and hold the three flag slots plus at least one field",
                              field="field_names")
        object.__setattr__(self, "field_names", tuple(self.field_names))
        object.__setattr__(self, "base_kernels", tuple(self.base_kernels))

    @property
    def n_states(self) -> int:
        return len(self.field_names)

    @property
    def head_dim(self) -> int:
        return self.hidden_dim // self.n_heads

    def replace(self, **changes) -> "WalrusConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["field_names"] = list(self.field_names)
        d["base_kernels"] = list(self.base_kernels)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "WalrusConfig":
        """Rebuild a config from :meth:`to_dict`'s output (e.g. a checkpoint's metadata).

        Every value is checked against its bounds (:data:`INT_BOUNDS`, ...) before anything is
        built; a bad one raises :class:`ConfigError` naming the key.
        """
        if not isinstance(d, dict):
            raise ConfigError("a config must be a mapping", field="config", expected="a JSON object of fields",
                              received=type(d).__name__)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ConfigError(f"unknown WalrusConfig keys {sorted(map(str, unknown))[:10]}",
                              field="config", expected=f"keys among {sorted(known)}")
        d = dict(d)
        for key in ("field_names", "base_kernels"):
            if key in d:
                if not isinstance(d[key], (list, tuple)):
                    raise ConfigError("must be a list", field=key, expected="a list",
                                      received=type(d[key]).__name__)
                d[key] = tuple(d[key])
        return cls(**d)


@dataclass(frozen=True)
class Preset:
    """A named model size with what a user needs to know before building it."""

    name: str
    config: WalrusConfig
    description: str
    extra: dict = field(default_factory=dict)


_PRESETS: dict[str, Preset] = {}


def register_preset(preset: Preset) -> None:
    if preset.name in _PRESETS:
        raise ValueError(f"preset {preset.name!r} is already registered")
    _PRESETS[preset.name] = preset


register_preset(Preset(
    "walrus-1.3b",
    WalrusConfig(),
    "The released Walrus (arXiv 2511.15684): loads the official walrus.pt strictly.",
))
register_preset(Preset(
    "walrus-half",
    WalrusConfig(n_blocks=20),
    "The release's width with half its processor depth (20 blocks), about 0.73B parameters.",
))
register_preset(Preset(
    "walrus-small",
    WalrusConfig(hidden_dim=384, intermediate_dim=96, n_blocks=8, n_heads=6, groups=6),
    "A 384-wide, 8-block model for single-GPU experiments and fine-tuning studies.",
))
register_preset(Preset(
    "walrus-tiny",
    WalrusConfig(hidden_dim=64, intermediate_dim=16, n_blocks=2, n_heads=4, groups=4,
                 gradient_checkpointing_freq=0),
    "A 64-wide, 2-block model that trains on two CPU cores.",
))
register_preset(Preset(
    "walrus-mini",
    WalrusConfig(hidden_dim=128, intermediate_dim=32, n_blocks=4, n_heads=4, groups=4,
                 gradient_checkpointing_freq=0, tokens_per_axis_2d=8, tokens_per_axis_3d=8),
    "A 128-wide, 4-block model with 8 tokens per axis (coarse patches for CPU speed): the size of "
    "the model pretrained on the generated corpus (examples/configs/pretrain_corpus.yaml).",
))


def list_models() -> list[str]:
    """Names of every registered preset, release first."""
    return list(_PRESETS)


def get_preset(name: str) -> Preset:
    try:
        return _PRESETS[name]
    except (KeyError, TypeError):
        raise UnknownModelError("unknown model preset", field="name", expected=f"one of {', '.join(_PRESETS)}",
                                received=repr(name)[:80]) from None
