"""Model configuration and the named presets.

A `WalrusConfig` holds every number needed to rebuild a network, so a saved checkpoint carries
its config and can be reloaded without constructor arguments.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from walrus.model.vocabulary import RELEASE_FIELD_NAMES

CONFIG_FORMAT_VERSION = 1


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
        if self.hidden_dim % self.n_heads:
            raise ValueError(f"hidden_dim {self.hidden_dim} is not divisible by n_heads {self.n_heads}")
        if self.hidden_dim % self.groups or self.intermediate_dim % self.groups:
            raise ValueError(
                f"hidden_dim {self.hidden_dim} and intermediate_dim {self.intermediate_dim} "
                f"must both be divisible by groups {self.groups}"
            )
        if self.head_dim % 8 or self.head_dim < 16:
            raise ValueError(
                f"head_dim = hidden_dim / n_heads = {self.head_dim}: axial RoPE needs a multiple of 8, at least 16"
            )
        if len(self.field_names) < 4 or len(set(self.field_names)) != len(self.field_names):
            raise ValueError("field_names must be unique and hold the three flag slots plus at least one field")
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
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown WalrusConfig keys {sorted(unknown)}; this walrus knows {sorted(known)}")
        d = dict(d)
        if "field_names" in d:
            d["field_names"] = tuple(d["field_names"])
        if "base_kernels" in d:
            d["base_kernels"] = tuple(d["base_kernels"])
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


def list_models() -> list[str]:
    """Names of every registered preset, release first."""
    return list(_PRESETS)


def get_preset(name: str) -> Preset:
    try:
        return _PRESETS[name]
    except KeyError:
        raise KeyError(f"unknown model preset {name!r}; known presets: {', '.join(_PRESETS)}") from None
