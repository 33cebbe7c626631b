"""`walrus train` / `walrus finetune`: run the trainer from a YAML config (under torchrun or deepspeed too)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from walrus.errors import ConfigError
from walrus.train.config import TrainConfig, parse_settings


def check_files(cfg: TrainConfig, source: Path | str) -> None:
    """Before any process group or model: each dataset's ``path`` is a directory, ``init_from`` a
    checkpoint file or a training run's directory (its newest checkpoint, any world size)."""
    for i, entry in enumerate(cfg.datasets):
        if entry.path is not None and not Path(entry.path).is_dir():
            raise ConfigError("dataset directory not found", field=f"datasets[{i}].path",
                              expected="an existing Well dataset root (with data/<split>/); make one with "
                                       f"`walrus generate {entry.name} --out DIR`", received=repr(entry.path),
                              hint=f"in {source}")
    if cfg.init_from is not None and not Path(cfg.init_from).exists():
        raise ConfigError("checkpoint not found", field="init_from",
                          expected="an existing checkpoint file (ours or the official walrus.pt) or training run directory",
                          received=repr(cfg.init_from), hint=f"in {source}")


def run(config: Path, finetune: bool, out_dir: str | None, max_steps: int | None, echo: Callable[[str], None],
        quiet: bool = False, prepare_only: bool = False, settings: list[str] | None = None) -> None:
    """``quiet`` turns the progress bars off; otherwise the config's ``progress:`` decides.
    ``prepare_only`` generates the missing datasets and stops. ``settings``: ``KEY=VALUE`` options
    that replace the file's (a recipe variant without a second file)."""
    from walrus.train.corpus import prepare_corpus
    from walrus.train.trainer import Trainer

    cfg = TrainConfig.from_yaml(config, parse_settings(settings), out_dir=out_dir, max_steps=max_steps,
                                progress=False if quiet else None)
    if finetune and not cfg.init_from:
        raise ConfigError("fine-tuning needs `init_from:`", field="init_from",
                          expected="our checkpoint or the official walrus.pt", received="nothing",
                          hint=f"in {config}")
    prepare_corpus(cfg, progress=cfg.progress, echo=echo, source=str(config))
    if prepare_only:
        echo(f"corpus ready: {len(cfg.datasets)} datasets")
        return
    check_files(cfg, config)
    trainer = Trainer(cfg)
    losses = trainer.fit()
    if cfg.validate_every:
        trainer.validate()
    exported = trainer.export()
    trainer.close()
    if trainer.info.is_main:
        if losses:
            echo(f"{len(losses)} steps; loss {losses[0]:.4g} -> {losses[-1]:.4g}")
        echo(f"log: {trainer.log_path}")
        if exported:
            echo(f"model: {exported}")
