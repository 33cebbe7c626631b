"""Pretraining and fine-tuning over plugin-registered datasets, on one CPU or sharded (FSDP2/HSDP, DeepSpeed ZeRO)."""

from walrus.train.config import DatasetConfig, TrainConfig

__all__ = ["DatasetConfig", "TrainConfig", "Trainer"]


def __getattr__(name):  # the trainer pulls in the data stack; import it on first use
    if name == "Trainer":
        from walrus.train.trainer import Trainer

        return Trainer
    raise AttributeError(name)
