"""FSDP2 training resumes exactly: a two-process run killed with SIGKILL at a random step and
restarted logs the same losses, bit for bit, as a run that never stopped (three two-process runs,
~75 s on 2 cores, in the default suite because CI must show it); and its DCP checkpoint, written by two ranks, loads into one process
(resharding) for fine-tuning or for resuming."""

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from walrus.model import load_checkpoint
from walrus.train import Trainer
from walrus.train.checkpointing import latest_checkpoint

from train_helpers import small_config

HERE = Path(__file__).parent
STEPS = 8


def logged(out_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (out_dir / "log.jsonl").read_text().splitlines()]


def losses(out_dir: Path) -> dict[int, float]:
    found = {}
    for rec in logged(out_dir):
        if rec["event"] == "train":
            found[rec["global_step"]] = rec["loss"]  # a resumed step overwrites the killed run's
    return found


def torchrun(corpus: dict, out: Path, *extra: str) -> subprocess.Popen:
    """tests/train/fsdp_run.py on two processes: STEPS steps of FSDP2 into `out`, then an export."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(HERE / "fsdp_run.py"), json.dumps({k: str(v) for k, v in corpus.items()}), str(out), str(STEPS),
           *extra]
    return subprocess.Popen(cmd, env=dict(os.environ, OMP_NUM_THREADS="1"), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def finish(proc: subprocess.Popen) -> None:
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-6000:]


@pytest.fixture(scope="module")
def straight(wave_corpus, tmp_path_factory) -> Path:
    """A two-process FSDP2 run that is never interrupted."""
    out = tmp_path_factory.mktemp("fsdp") / "straight"
    finish(torchrun(wave_corpus, out))
    assert sorted(losses(out)) == list(range(1, STEPS + 1))
    assert len([r for r in logged(out) if r["event"] == "train"]) == STEPS  # rank 0 alone logs: no step twice
    assert latest_checkpoint(out / "checkpoints").name == f"step_{STEPS:09d}"
    assert len(list((out / "checkpoints" / f"step_{STEPS:09d}" / "dcp").glob("*.distcp"))) == 2  # one per rank
    return out


def test_a_checkpoint_written_by_two_ranks_loads_into_one_process(wave_corpus, straight, tmp_path):
    exported = load_checkpoint(straight / "model.safetensors").state_dict()  # the 2-rank run's final weights

    # Fine-tuning: init_from the run's directory (its newest checkpoint), one process, no process group.
    ft = Trainer(small_config({"waves2d": wave_corpus["waves2d"]}, tmp_path / "ft", epochs=1, steps_per_epoch=1,
                              init_from=str(straight), new_fields=["salinity"]))
    assert ft.engine.name == "single" and ft.model.config.field_names[-1] == "salinity"
    state = ft.model.state_dict()
    kept = [k for k, v in exported.items() if state[k].shape == v.shape]  # all but the grown vocabulary columns
    assert len(kept) > 20
    for key in kept:
        assert torch.equal(state[key], exported[key]), key

    # Resuming: one process takes over the two-rank run, model and AdamW state, DCP resharding both.
    takeover = tmp_path / "takeover"
    shutil.copytree(straight / "checkpoints", takeover / "checkpoints")
    trainer = Trainer(small_config(wave_corpus, takeover, epochs=3, steps_per_epoch=4, checkpoint_every=2,
                                   max_steps=STEPS + 1, augment=True, max_dt_stride=2))
    assert trainer.resume() and trainer.global_step == STEPS
    for key, value in exported.items():
        assert torch.equal(trainer.model.state_dict()[key], value), key
    moments = [s["exp_avg"] for s in trainer.engine.optimizer.state.values()]
    assert len(moments) == len(list(trainer.model.parameters()))
    assert all(m.shape == p.shape for m, p in zip(moments, trainer.model.parameters()))
    assert sum(bool(m.abs().sum()) for m in moments) > 20  # real moments, not fresh zeros
    assert len(trainer.fit()) == 1  # and it trains on from step STEPS


def test_fsdp2_kill_and_resume_continues_the_loss_curve_bitwise(wave_corpus, straight, tmp_path):
    import psutil  # installed with deepspeed (the dev extra): a missing psutil must fail, not skip
    kill_after = random.Random(13).randint(3, STEPS - 2)  # a seeded "random" step, past the first checkpoint
    killed = tmp_path / "killed"
    proc = torchrun(wave_corpus, killed, "slow")
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if (killed / "log.jsonl").exists() and len(losses(killed)) >= kill_after \
                and (killed / "checkpoints" / "latest").exists():
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed"
    # torchrun starts each rank in a session of its own: SIGKILL the ranks by id, then torchrun
    ranks = psutil.Process(proc.pid).children(recursive=True)
    assert len([r for r in ranks if "fsdp_run.py" in " ".join(r.cmdline())]) == 2
    for rank in ranks:
        rank.send_signal(signal.SIGKILL)
    os.kill(proc.pid, signal.SIGKILL)
    psutil.wait_procs(ranks, timeout=30)
    proc.communicate(timeout=60)
    assert kill_after <= len(losses(killed)) < STEPS, (kill_after, len(losses(killed)))
    assert not (killed / "model.safetensors").exists()

    finish(torchrun(wave_corpus, killed))
    assert losses(killed) == losses(straight)  # bitwise: JSON floats round-trip exactly
    assert len([r for r in logged(killed) if r["event"] == "resumed"]) == 1
