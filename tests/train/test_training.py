"""End-to-end training: it learns, it resumes exactly after a kill, it refuses bad checkpoints,
it fine-tunes with new fields, and the CLI drives it."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from walrus.model import CheckpointError, load_checkpoint
from walrus.train import Trainer

from train_helpers import small_config


def logged_losses(out_dir: Path) -> dict[int, float]:
    losses = {}
    for line in (out_dir / "log.jsonl").read_text().splitlines():
        rec = json.loads(line)
        if rec["event"] == "train":
            losses[rec["global_step"]] = rec["loss"]  # a resumed step overwrites the killed run's
    return losses


def test_tiny_overfits_a_small_dataset(wave_corpus, tmp_path):
    cfg = small_config({"waves2d": wave_corpus["waves2d"]}, tmp_path, epochs=1, steps_per_epoch=150, lr=3e-4,
                       deterministic_model=True, augment=False, max_dt_stride=1, checkpoint_every=1000)
    losses = Trainer(cfg).fit()
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < first / 10, (first, last)


def test_kill_and_resume_gives_identical_losses(wave_corpus, tmp_path):
    corpus_args = json.dumps({k: str(v) for k, v in wave_corpus.items()})
    script = Path(__file__).parent / "run_small.py"
    steps = 10
    straight = tmp_path / "straight"
    subprocess.run([sys.executable, str(script), corpus_args, str(straight), str(steps)], check=True)
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, str(script), corpus_args, str(killed), str(steps), "slow"])
    deadline = time.time() + 300
    while time.time() < deadline:  # kill it once a checkpoint exists and it is past it
        if (killed / "checkpoints" / "latest").exists() and len(logged_losses(killed)) >= 5:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert len(logged_losses(killed)) < steps
    subprocess.run([sys.executable, str(script), corpus_args, str(killed), str(steps)], check=True)
    assert logged_losses(killed) == logged_losses(straight)
    assert any(json.loads(l)["event"] == "resumed" for l in (killed / "log.jsonl").read_text().splitlines())


def test_corrupt_or_truncated_checkpoints_are_refused(wave_corpus, tmp_path):
    cfg = small_config(wave_corpus, tmp_path, epochs=1, steps_per_epoch=2)
    Trainer(cfg).fit()
    ckpt = next((tmp_path / "checkpoints").glob("step_*"))
    state = ckpt / "state.pt"
    data = bytearray(state.read_bytes())
    data[len(data) // 2] ^= 0xFF
    state.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="state.pt is corrupt or truncated"):
        Trainer(small_config(wave_corpus, tmp_path, epochs=2, steps_per_epoch=2)).fit()
    state.write_bytes(bytes(data[: len(data) // 3]))
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        Trainer(small_config(wave_corpus, tmp_path, epochs=2, steps_per_epoch=2)).fit()
    (ckpt / "MANIFEST.json").unlink()
    with pytest.raises(CheckpointError, match="incomplete checkpoint"):
        Trainer(small_config(wave_corpus, tmp_path, epochs=2, steps_per_epoch=2)).fit()


def test_export_loads_as_a_model_and_finetuning_adds_fields_and_freezes(wave_corpus, tmp_path):
    trainer = Trainer(small_config(wave_corpus, tmp_path / "pre", epochs=1, steps_per_epoch=2))
    trainer.fit()
    exported = trainer.export()
    model = load_checkpoint(exported)
    assert model.config == trainer.model.config
    for k, v in trainer.model.state_dict().items():
        assert torch.equal(model.state_dict()[k], v.cpu())
    ft = Trainer(small_config(wave_corpus, tmp_path / "ft", epochs=1, steps_per_epoch=3, init_from=str(exported),
                              new_fields=["salinity"], freeze=["embed", "debed"]))
    assert ft.model.config.field_names[-1] == "salinity"
    before = {k: v.clone() for k, v in ft.model.state_dict().items()}
    ft.fit()
    after = ft.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith(("embed.", "debed.")))
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("blocks."))


def test_validation_reports_vrmse_per_dataset_and_field_over_time_windows(wave_corpus, tmp_path):
    trainer = Trainer(small_config(wave_corpus, tmp_path, epochs=1, steps_per_epoch=1, rollout_steps=4,
                                   validation_batches=2))
    metrics = trainer.validate()
    assert set(metrics) == {"waves2d", "waves3d"}
    row = metrics["waves2d"]
    assert set(row["one_step"]) == {"density", "velocity_x", "velocity_y"}  # padded velocity_z is not scored
    assert {"rollout_T=0:1", "rollout_T=1:2", "rollout_T=2:4"} <= set(row)
    assert all(v >= 0 for v in row["one_step"].values())


def test_cli_train_runs_a_config(wave_corpus, tmp_path):
    from walrus.cli import app

    config = tmp_path / "train.yaml"
    config.write_text(
        "datasets:\n" + "".join(f"  - {{name: {k}, path: {v}}}\n" for k, v in wave_corpus.items())
        + f"out_dir: {tmp_path / 'run'}\nhistory_2d: 3\nhistory_3d: 2\nepochs: 1\nsteps_per_epoch: 2\n"
          "warmup_epochs: 0\ncooldown_epochs: 0\nvalidate_every: 1\nvalidation_batches: 1\nrollout_steps: 2\n"
          "progress: false\n")
    result = CliRunner().invoke(app, ["train", str(config)])
    assert result.exit_code == 0, result.output
    assert "2 steps" in result.output and (tmp_path / "run" / "model.safetensors").exists()
    result = CliRunner().invoke(app, ["finetune", str(config)])
    assert result.exit_code != 0 and "init_from" in str(result.exception)


def test_a_dataset_may_set_its_own_largest_time_stride(wave_corpus, tmp_path):
    from walrus.errors import ConfigError
    from walrus.train import Trainer

    datasets = [{"name": "waves2d", "path": str(wave_corpus["waves2d"]), "max_dt_stride": 1},
                {"name": "waves3d", "path": str(wave_corpus["waves3d"])}]
    cfg = small_config({}, tmp_path, datasets=datasets, max_dt_stride=3)
    trainer = Trainer(cfg)
    assert [m.train.max_dt_stride for m in trainer.corpus] == [1, 3]
    trainer.close()
    with pytest.raises(ConfigError, match=r"datasets\[0\]\.max_dt_stride"):
        small_config({}, tmp_path, datasets=[{**datasets[0], "max_dt_stride": 0}])
