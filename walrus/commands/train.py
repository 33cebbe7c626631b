"""`walrus train` / `walrus finetune`: run the trainer from a YAML config (under torchrun or deepspeed too)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from walrus.train.config import TrainConfig


def run(config: Path, finetune: bool, out_dir: str | None, max_steps: int | None, echo: Callable[[str], None]) -> None:
    from walrus.train.trainer import Trainer

    cfg = TrainConfig.from_yaml(config, out_dir=out_dir, max_steps=max_steps)
    if finetune and not cfg.init_from:
        raise ValueError(f"{config}: fine-tuning needs `init_from:` (our checkpoint or the official walrus.pt)")
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
