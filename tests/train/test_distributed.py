"""Two processes on gloo, as `torchrun --standalone --nproc_per_node 2` starts them on a cluster node."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from walrus.errors import ConfigError

from train_helpers import assert_same_step

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
    assert_same_step(torch.load(tmp_path / "dist.pt"), torch.load(tmp_path / "ref.pt"))


LAUNCH_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


@pytest.fixture
def launcher_env(monkeypatch):
    """Set the variables torchrun gives rank `rank` of `world` (local rank and node size too)."""
    for name in LAUNCH_VARS:
        monkeypatch.delenv(name, raising=False)

    def set_env(rank, world, local_rank, local_world):
        for name, value in zip(LAUNCH_VARS, (rank, world, local_rank, local_world, "127.0.0.1", "29500")):
            monkeypatch.setenv(name, str(value))
    return set_env


def test_each_rank_binds_its_local_gpu_before_the_nccl_process_group(monkeypatch, launcher_env):
    """Rank 5 of 8 on a node of 4 GPUs (LOCAL_RANK 1): cuda:1 is made current before the process
    group starts, NCCL is bound to it, and nothing touches GPU 0. (No GPU here: CUDA is stubbed.)"""
    from walrus.train import distributed

    calls = []
    launcher_env(5, 8, 1, 4)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    monkeypatch.setattr(torch.cuda, "set_device", lambda d: calls.append(("set_device", torch.device(d))))
    monkeypatch.setattr(distributed.dist, "is_initialized", lambda: any(c[0] == "init" for c in calls))
    monkeypatch.setattr(distributed.dist, "init_process_group",
                        lambda backend, **kw: calls.append(("init", backend, kw.get("device_id"))))
    monkeypatch.setattr(distributed.dist, "get_rank", lambda: 5)
    monkeypatch.setattr(distributed.dist, "get_world_size", lambda: 8)
    device = distributed.pick_device("auto")
    info = distributed.init_distributed(device, (2, 4))
    assert device == torch.device("cuda", 1)
    assert calls == [("set_device", torch.device("cuda", 1)), ("init", "nccl", torch.device("cuda", 1))]
    assert (info.rank, info.world_size, info.local_rank, info.replicate, info.shard) == (5, 8, 1, 2, 4)
    assert info.shard_group == 1 and not info.is_main

    # one named GPU for four processes, and a LOCAL_RANK past the node's GPUs, are refused
    with pytest.raises(ConfigError, match="device: one GPU named for several processes"):
        distributed.pick_device("cuda:0")
    launcher_env(5, 8, 5, 8)
    with pytest.raises(ConfigError, match=r"device: this process's GPU does not exist.*below 4.*cuda:5"):
        distributed.pick_device("cuda")


def test_cpu_ranks_use_gloo_and_a_mesh_must_cover_the_world(monkeypatch, launcher_env):
    from walrus.train import distributed

    calls = []
    launcher_env(0, 4, 0, 4)
    monkeypatch.setattr(distributed.dist, "is_initialized", lambda: bool(calls))
    monkeypatch.setattr(distributed.dist, "init_process_group", lambda backend, **kw: calls.append((backend, kw)))
    monkeypatch.setattr(distributed.dist, "get_rank", lambda: 0)
    monkeypatch.setattr(distributed.dist, "get_world_size", lambda: 4)
    assert distributed.pick_device("cpu") == torch.device("cpu")
    info = distributed.init_distributed(torch.device("cpu"), None)
    assert calls == [("gloo", {})] and (info.replicate, info.shard) == (1, 4) and info.is_main
    assert distributed.init_distributed(torch.device("cpu"), (2, 2)).shard_group == 0
    for mesh in [(2, 1), (3, 2), (4, 4)]:
        with pytest.raises(ConfigError) as err:
            distributed.init_distributed(torch.device("cpu"), mesh)
        assert err.value.field == "mesh"
        assert "replicate x shard = 4" in str(err.value) and f"[{mesh[0]}, {mesh[1]}]" in str(err.value)
    # no launcher: one process, and a mesh for several is refused before any model is built
    for name in LAUNCH_VARS:
        monkeypatch.delenv(name)
    calls.clear()
    assert distributed.init_distributed(torch.device("cpu"), None).world_size == 1
    with pytest.raises(ConfigError, match=r"mesh: .*replicate x shard = 1.*\[2, 1\]"):
        distributed.init_distributed(torch.device("cpu"), (2, 1))
    assert not calls  # and no process group was started


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
