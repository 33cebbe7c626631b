"""DeepSpeed ZeRO 1-3 with two processes on gloo (CPU), launched by torchrun as on a cluster node:
gradient accumulation through DeepSpeed's own `gradient_accumulation_steps` equals one large-batch
step, DeepSpeed's partitioned checkpoints round-trip inside walrus's atomic checkpoint directories,
the consolidated export works for every stage, and a run killed with SIGKILL resumes bitwise.

The first DeepSpeed process on a machine JIT-builds its shm_comm op (~1 min, then cached in
~/.cache/torch_extensions)."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from walrus.errors import ConfigError
from walrus.train import TrainConfig

HERE = Path(__file__).parent
SCRIPT = HERE / "ds_run.py"
ENV = dict(OMP_NUM_THREADS="1", DS_ACCELERATOR="cpu")


def torchrun_cmd(*args) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(SCRIPT),
            *map(str, args)]


def torchrun(*args) -> None:
    proc = subprocess.run(torchrun_cmd(*args), capture_output=True, text=True, env=dict(os.environ, **ENV),
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]


def corpus_arg(corpus: dict) -> str:
    return json.dumps({k: str(v) for k, v in corpus.items()})


def logged_losses(out_dir: Path) -> dict[int, float]:
    losses = {}
    log = out_dir / "log.jsonl"
    for line in (log.read_text().splitlines() if log.exists() else []):
        rec = json.loads(line)
        if rec["event"] == "train":
            losses[rec["global_step"]] = rec["loss"]  # a resumed step overwrites the killed run's
    return losses


def assert_states_close(a: dict, b: dict, **tol) -> None:
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], msg=key, **tol)


def changed(a: dict, b: dict) -> int:
    return sum(not torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("stage", [1, 2, 3])
def test_zero_stage_accumulates_checkpoints_and_exports(tmp_path, wave_corpus, stage):
    from walrus.model import load_checkpoint

    torchrun("check", stage, corpus_arg({"waves2d": wave_corpus["waves2d"]}), tmp_path)
    r = torch.load(tmp_path / "result.pt")
    # One optimizer step, taken by DeepSpeed at the accumulation boundary only: the first
    # micro-step reports no gradient norm; the step equals one on the 2x larger batch.
    assert r["acc_norms"][0] != r["acc_norms"][0] and r["acc_norms"][1] == pytest.approx(r["large_norm"], rel=1e-5)
    assert_states_close(r["accumulated"], r["large"], rtol=1e-5, atol=1e-7)
    assert changed(r["accumulated"], r["initial"]) > 50  # the step really trained (59 tensors)
    # DeepSpeed's checkpoint, every rank its ZeRO partition, inside the manifest-checked directory.
    ckpt = tmp_path / "accumulated" / "checkpoints" / "step_000000002"
    manifest = json.loads((ckpt / "MANIFEST.json").read_text())
    for rank in (0, 1):
        assert f"ds/state/zero_pp_rank_{rank}_mp_rank_00_optim_states.pt" in manifest
        if stage == 3:  # partitioned weights too
            assert f"ds/state/zero_pp_rank_{rank}_mp_rank_00_model_states.pt" in manifest
    assert not list(ckpt.parent.glob("*.tmp"))
    # A fresh trainer loads it bitwise, and the next step (momentum from the restored optimizer
    # partitions) is bitwise the uninterrupted one.
    assert changed(r["after_load"], r["accumulated"]) == 0
    assert changed(r["resumed_second"], r["second"]) == 0
    assert changed(r["second"], r["accumulated"]) > 50
    # The consolidated export: every tensor, unsharded, loadable as a model.
    model = load_checkpoint(r["exported"])
    exported = model.state_dict()
    assert changed(exported, r["second"]) == 0


def test_single_engine_accumulated_step_equals_large_batch_step(tmp_path, wave_corpus):
    sys.path.insert(0, str(HERE))
    from ds_run import accumulated_and_large

    _, initial, accumulated, large, acc_norms, large_norm = accumulated_and_large(
        {"waves2d": wave_corpus["waves2d"]}, tmp_path, "single")
    assert acc_norms[0] != acc_norms[0] and acc_norms[1] == pytest.approx(large_norm, rel=1e-5)
    assert_states_close(accumulated, large, rtol=1e-5, atol=1e-7)
    assert changed(accumulated, initial) > 40  # all but the unused 3-D encoder pair (59 tensors)


def test_config_accumulation_cycles_and_zero3_sampling(tmp_path):
    base = dict(datasets=[{"name": "w", "path": str(tmp_path)}], out_dir=str(tmp_path), epochs=1,
                warmup_epochs=0, cooldown_epochs=0, grad_accumulation=4)
    assert TrainConfig(**base, steps_per_epoch=8, checkpoint_every=4).grad_accumulation == 4
    with pytest.raises(ConfigError, match="steps_per_epoch"):
        TrainConfig(**base, steps_per_epoch=6)
    with pytest.raises(ConfigError, match="checkpoint_every"):
        TrainConfig(**base, steps_per_epoch=8, checkpoint_every=6)
    zero3 = dict(base, steps_per_epoch=8, engine="deepspeed", zero_stage=3)
    assert TrainConfig(**zero3, mesh=[1, 2]).sampling == "topology"
    with pytest.raises(ConfigError, match="sampling"):  # ranks would run different modules
        TrainConfig(**zero3, sampling="naive")
    with pytest.raises(ConfigError, match="mesh"):
        TrainConfig(**zero3, mesh=[2, 1])


def kill_tree(pid: int) -> None:
    """SIGKILL torchrun and its workers (torchrun starts each worker in its own session)."""
    import psutil

    parent = psutil.Process(pid)
    for proc in [parent, *parent.children(recursive=True)]:
        try:
            proc.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass


@pytest.mark.parametrize("stage", [pytest.param(1, marks=pytest.mark.slow), pytest.param(2, marks=pytest.mark.slow),
                                   3])
def test_killed_two_process_run_resumes_bitwise(tmp_path, wave_corpus, stage):
    steps = 8
    corpus = corpus_arg(wave_corpus)
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    torchrun("train", stage, corpus, straight, steps)
    assert len(logged_losses(straight)) == steps
    kill_after = random.Random(1300 + stage).randint(3, steps - 3)  # a seeded random step
    proc = subprocess.Popen(torchrun_cmd("train", stage, corpus, killed, steps, "slow"), env=dict(os.environ, **ENV),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 300
        while time.time() < deadline and proc.poll() is None:
            if (killed / "checkpoints" / "latest").exists() and len(logged_losses(killed)) >= kill_after:
                break
            time.sleep(0.1)
    finally:
        kill_tree(proc.pid)
        proc.wait()
    assert kill_after <= len(logged_losses(killed)) < steps
    torchrun("train", stage, corpus, killed, steps)
    assert logged_losses(killed) == logged_losses(straight)  # bitwise: JSON keeps every float exactly
    records = [json.loads(l) for l in (killed / "log.jsonl").read_text().splitlines()]
    assert any(r["event"] == "resumed" for r in records)
