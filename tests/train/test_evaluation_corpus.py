"""Rollout scoring shared by validation and bench/accuracy.py, and corpus generation before training."""

from pathlib import Path

import pytest
import torch

import walrus
from walrus.data.well_dataset import WellWindowDataset
from walrus.errors import ConfigError
from walrus.metrics import vrmse
from walrus.train.batching import collate, dataset_layout
from walrus.train.config import DatasetConfig, TrainConfig
from walrus.train.corpus import missing_datasets, prepare_corpus
from walrus.train.evaluation import persistence_predictor, rollout, rollout_vrmse, walrus_predictor


def _batch(root: Path, history: int, future: int):
    data = WellWindowDataset(root, split="valid", n_steps_input=history, n_steps_output=future)
    layout = dataset_layout(data, walrus.get_model("walrus-tiny").config.field_names)
    return collate([data[0], data[1]], layout, "waves2d")


def test_persistence_rollout_repeats_the_last_frame_and_scores_it(wave_corpus):
    batch = _batch(wave_corpus["waves2d"], history=3, future=4)
    frames = rollout(persistence_predictor(), batch)
    last = batch.x[-1, :, :batch.n_variable] * batch.padded_mask.view(1, -1, 1, 1, 1)
    assert frames.shape == (4, *last.shape)
    assert torch.equal(frames, last.expand(4, *last.shape))
    keep = batch.padded_mask
    expected = vrmse(last[:, keep].movedim(1, -1).expand(4, *last[:, keep].movedim(1, -1).shape),
                     batch.future[:, :, keep].movedim(2, -1), 3).mean(1)
    torch.testing.assert_close(rollout_vrmse(persistence_predictor(), batch), expected)


def test_an_oracle_scores_zero_and_predictions_are_fed_back(wave_corpus):
    batch = _batch(wave_corpus["waves2d"], history=3, future=3)
    seen = []

    def oracle(window, b):  # the true next frame; records the window it was given
        seen.append(window.clone())
        return b.future[len(seen) - 1]

    errors = rollout_vrmse(oracle, batch)
    assert errors.shape == (3, int(batch.padded_mask.sum()))
    assert float(errors.abs().max()) < 1e-4  # eps-limited VRMSE of identical fields
    # step 2's window ends with step 1's prediction (the true frame here), not the input's last frame
    torch.testing.assert_close(seen[1][-1, :, :batch.n_variable], batch.future[0] * batch.padded_mask.view(1, -1, 1, 1, 1))


def test_walrus_predictor_is_reproducible_for_a_seed(wave_corpus):
    batch = _batch(wave_corpus["waves2d"], history=3, future=2)
    model = walrus.get_model("walrus-tiny").eval()
    with torch.no_grad():
        a = rollout(walrus_predictor(model, seed=3), batch)
        b = rollout(walrus_predictor(model, seed=3), batch)
    assert torch.equal(a, b) and torch.isfinite(a).all()
    with pytest.raises(ValueError, match="steps must be in 1..2"):
        rollout(persistence_predictor(), batch, steps=3)


def test_generate_needs_a_path_and_known_options():
    with pytest.raises(ConfigError, match="generate.*path|path"):
        DatasetConfig.build("datasets[0]", {"name": "gray_scott_pypde", "generate": {"res": 16}})
    with pytest.raises(ConfigError, match="resolution|res"):
        DatasetConfig.build("datasets[0]", {"name": "gray_scott_pypde", "path": "x", "generate": {"resolution": 16}})
    with pytest.raises(ConfigError, match="n_traj"):
        DatasetConfig.build("datasets[0]", {"name": "gray_scott_pypde", "path": "x", "generate": {"n_traj": 2}})


def test_prepare_corpus_generates_only_what_is_missing(tmp_path, wave_corpus):
    cfg = TrainConfig(datasets=[
        DatasetConfig(name="gray_scott_pypde", path=str(tmp_path / "gs16"),
                      generate={"n_traj": 3, "res": 16, "steps": 4, "seed": 5}),
        DatasetConfig(name="waves2d", path=str(wave_corpus["waves2d"])),
    ], out_dir=str(tmp_path / "run"))
    assert [i for i, _ in missing_datasets(cfg)] == [0]
    written = prepare_corpus(cfg, progress=False, echo=lambda s: None)
    assert written == [tmp_path / "gs16"]
    files = sorted((tmp_path / "gs16" / "data" / "train").glob("*.h*5"))
    assert files and WellWindowDataset(tmp_path / "gs16", split="train").n_spatial_dims == 2
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".gs16")]  # no temporary left behind
    stamp = files[0].stat().st_mtime_ns
    assert missing_datasets(cfg) == [] and prepare_corpus(cfg, progress=False, echo=lambda s: None) == []
    assert files[0].stat().st_mtime_ns == stamp  # present data is never regenerated


def test_prepare_corpus_refuses_non_generated_and_distributed(tmp_path, monkeypatch):
    cfg = TrainConfig(datasets=[DatasetConfig(name="not_registered", path=str(tmp_path / "x"), generate={"res": 16})],
                      out_dir=str(tmp_path / "run"))
    with pytest.raises(ConfigError, match="datasets\\[0\\].name"):
        prepare_corpus(cfg, progress=False, echo=lambda s: None)
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ConfigError, match="--prepare-only"):
        prepare_corpus(cfg, progress=False, echo=lambda s: None)


def test_walrus_train_prepare_only_generates_and_does_not_train(tmp_path):
    import yaml
    from typer.testing import CliRunner

    from walrus.cli import app

    config = tmp_path / "corpus.yaml"
    config.write_text(yaml.safe_dump({
        "datasets": [{"name": "shallow_water_pyclaw", "path": str(tmp_path / "sw"),
                      "generate": {"n_traj": 3, "res": 8, "steps": 3}}],
        "out_dir": str(tmp_path / "run")}))
    result = CliRunner().invoke(app, ["train", str(config), "--prepare-only", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "corpus ready: 1 datasets" in result.output
    assert list((tmp_path / "sw" / "data" / "train").glob("*.h*5"))
    assert not (tmp_path / "run").exists()


def test_init_from_a_bfloat16_file_trains_in_float32(tmp_path, wave_corpus):
    from walrus.model.checkpoint import save_checkpoint
    from walrus.train.trainer import build_model

    stored = walrus.get_model("walrus-tiny").to(torch.bfloat16)
    save_checkpoint(stored, tmp_path / "bf16.safetensors", preset="walrus-tiny")
    cfg = TrainConfig(datasets=[DatasetConfig(name="waves2d", path=str(wave_corpus["waves2d"]))],
                      out_dir=str(tmp_path / "run"), init_from=str(tmp_path / "bf16.safetensors"))
    model = build_model(cfg)
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    for (name, got), (_, want) in zip(model.state_dict().items(), stored.state_dict().items()):
        assert torch.equal(got, want.float()), name
