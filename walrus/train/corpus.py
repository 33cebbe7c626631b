"""Build a training corpus before training: generate every configured dataset whose files are missing.

A corpus entry with ``generate:`` names a registered generated dataset and where it lives; one
`walrus train examples/configs/pretrain_corpus.yaml` then runs the solvers for whatever is not on
disk yet and trains on the result. Generation happens in one process, before any process group:
under a distributed launcher a missing dataset is refused with the command that prepares it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable

from walrus.errors import ConfigError
from walrus.train.config import DatasetConfig, TrainConfig

__all__ = ["missing_datasets", "prepare_corpus"]


def _has_data(entry: DatasetConfig) -> bool:
    split = Path(entry.path) / "data" / entry.train_split
    return split.is_dir() and any(split.glob("*.h*5"))


def missing_datasets(cfg: TrainConfig) -> list[tuple[int, DatasetConfig]]:
    """The entries with a ``generate`` recipe whose directory holds no training files yet."""
    return [(i, e) for i, e in enumerate(cfg.datasets) if e.generate is not None and not _has_data(e)]


def prepare_corpus(cfg: TrainConfig, *, progress: bool = True, echo: Callable[[str], None] = print,
                   source: str = "the config") -> list[Path]:
    """Generate the missing datasets (solver runs with progress bars); returns the roots written."""
    from walrus.data.generators.pipeline import generate_dataset
    from walrus.plugins import get_registry

    todo = missing_datasets(cfg)
    if not todo:
        return []
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        i, entry = todo[0]
        raise ConfigError("datasets must be generated before a distributed launch", field=f"datasets[{i}].path",
                          expected=f"Well files under {entry.path}/data/{entry.train_split}",
                          received="no files", hint=f"run `walrus train {source} --prepare-only` once, without torchrun")
    registry = get_registry()
    written = []
    for n, (i, entry) in enumerate(todo, 1):
        spec = registry.dataset(entry.name) if entry.name in registry.datasets else None
        if spec is None or getattr(spec, "generator", None) is None:
            raise ConfigError("only a registered generated dataset can be generated", field=f"datasets[{i}].name",
                              expected="a name listed by `walrus generate --list`", received=repr(entry.name),
                              hint=f"in {source}")
        settings = dict(entry.generate)
        echo(f"[{n}/{len(todo)}] generating {entry.name} -> {entry.path} "
             + " ".join(f"{k}={v}" for k, v in settings.items()))
        written.append(_generate_into(Path(entry.path), lambda tmp: generate_dataset(
            entry.name, tmp, progress=progress, registry=registry, **settings)))
    return written


def _generate_into(root: Path, generate: Callable[[Path], Path]) -> Path:
    """Generate in a sibling temporary directory and rename it to ``root`` when complete, so an
    interrupted run never leaves a dataset that looks whole."""
    if root.exists() and any(root.iterdir()):
        raise ConfigError("the dataset directory is not empty but holds no training files", field="path",
                          expected="an empty or missing directory to generate into", received=str(root))
    root.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root.parent, prefix=f".{root.name}.") as tmp:
        made = generate(Path(tmp))
        if root.exists():
            root.rmdir()
        os.replace(made, root)
    return root
