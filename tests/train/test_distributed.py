"""Two processes on gloo, as `torchrun --standalone --nproc_per_node 2` starts them on a cluster node."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

HERE = Path(__file__).parent


def torchrun(*args, env=None):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", *map(str, args)]
    full_env = dict(os.environ, OMP_NUM_THREADS="1", **(env or {}))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=full_env, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return proc


@pytest.mark.parametrize("mesh", [(1, 2), (2, 1)], ids=["fsdp-1x2", "hsdp-2x1"])
def test_two_process_fsdp2_step_equals_one_process_step(tmp_path, mesh):
    torchrun(HERE / "dist_step.py", tmp_path / "dist.pt", *mesh)
    subprocess.run([sys.executable, str(HERE / "dist_step.py"), str(tmp_path / "ref.pt"), "0", "0"], check=True)
    dist_params, ref_params = torch.load(tmp_path / "dist.pt"), torch.load(tmp_path / "ref.pt")
    initial = __import__("dist_step").make_model().state_dict()
    assert dist_params.keys() == ref_params.keys()
    moved = 0
    for key, ref in ref_params.items():
        torch.testing.assert_close(dist_params[key], ref, rtol=1e-5, atol=1e-6, msg=key)
        moved += int(not torch.equal(ref, initial[key]))
    assert moved > 20  # the step really changed the weights


def write_config(tmp_path, corpus, **extra) -> Path:
    lines = ["datasets:"] + [f"  - {{name: {k}, path: {v}}}" for k, v in corpus.items()]
    options = dict(out_dir=tmp_path / "run", history_2d=3, history_3d=2, epochs=1, steps_per_epoch=12,
                   warmup_epochs=0, cooldown_epochs=0, validate_every=0, progress=False, lr=3e-3,
                   deterministic_model=True, augment=False, max_dt_stride=1, checkpoint_every=6)
    options.update(extra)
    lines += [f"{k}: {v}" for k, v in options.items()]
    path = tmp_path / "train.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def train_losses(run_dir: Path) -> list[float]:
    return [json.loads(l)["loss"] for l in (run_dir / "log.jsonl").read_text().splitlines()
            if json.loads(l)["event"] == "train"]


def test_fsdp2_hsdp_training_run_checkpoints_and_exports(tmp_path, wave_corpus):
    config = write_config(tmp_path, wave_corpus, engine="fsdp", mesh="[1, 2]")
    torchrun("-m", "walrus.cli", "train", config)
    run = tmp_path / "run"
    assert len(train_losses(run)) == 12
    assert (run / "checkpoints" / "step_000000012" / "dcp").is_dir()
    from walrus.model import load_checkpoint

    model = load_checkpoint(run / "model.safetensors")
    assert sum(p.numel() for p in model.parameters()) == 2_574_919


def test_two_process_deepspeed_zero2_trains_and_its_loss_falls(tmp_path, wave_corpus):
    config = write_config(tmp_path, {"waves2d": wave_corpus["waves2d"]}, engine="deepspeed", zero_stage=2,
                          steps_per_epoch=40, checkpoint_every=40)
    torchrun("-m", "walrus.cli", "train", config, env={"DS_ACCELERATOR": "cpu"})
    losses = train_losses(tmp_path / "run")
    assert len(losses) == 40
    assert sum(losses[-5:]) / 5 < 0.5 * sum(losses[:5]) / 5, losses
    assert (tmp_path / "run" / "model.safetensors").exists()
