"""The example training configs parse, and point at datasets the plugins register."""

from pathlib import Path

import pytest

from walrus.train import TrainConfig

CONFIGS = sorted((Path(__file__).parents[2] / "examples" / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_example_config_parses_and_names_registered_datasets(path):
    from walrus.plugins import datasets

    cfg = TrainConfig.from_yaml(path)
    registered = set(datasets())
    assert all(entry.name in registered for entry in cfg.datasets), [d.name for d in cfg.datasets]
    assert cfg.engine in ("single", "fsdp", "deepspeed")


def test_unknown_options_are_refused(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("datasets: [{name: x, path: y}]\nlearning_rate: 1\n")
    with pytest.raises(ValueError, match="learning_rate"):
        TrainConfig.from_yaml(bad)
