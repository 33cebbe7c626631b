"""examples/slurm/train.sbatch: the environment of a SLURM job resolves to the right torchrun
command (c10d rendezvous on the first node), and the same script, on one node, trains for real.

No SLURM here: `scontrol` and `srun` are small stand-ins put first on PATH. `scontrol show
hostnames` expands a node list as SLURM does; `srun` runs its command once, here (one node, one task).
"""

import json
import os
import shlex
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[2] / "examples" / "slurm" / "train.sbatch"

SCONTROL = r'''#!{python}
import re, sys
assert sys.argv[1:3] == ["show", "hostnames"], sys.argv
for part in re.findall(r"[^,\[]+(?:\[[^\]]*\])?", sys.argv[3]):
    m = re.fullmatch(r"(.*)\[(.*)\]", part)
    if not m:
        print(part)
        continue
    for item in m.group(2).split(","):
        lo, _, hi = item.partition("-")
        for i in range(int(lo), int(hi or lo) + 1):
            print(f"{{m.group(1)}}{{i:0{{len(lo)}}d}}")
'''

SRUN = r'''#!/bin/bash
# one node, one task: drop srun's options and run the command here
echo "$@" > "$(dirname "$0")/srun.args"
while [[ "$1" == -* ]]; do shift; done
exec "$@"
'''


def fake_slurm(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("scontrol", SCONTROL.format(python=sys.executable)), ("srun", SRUN)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755 | stat.S_IEXEC)
    return bin_dir


def job_env(bin_dir: Path, **slurm) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "WALRUS_"))}
    env["PATH"] = os.pathsep.join([str(bin_dir), str(Path(sys.executable).parent), env.get("PATH", "")])
    env.update(slurm)
    return env


def sbatch(args, env, timeout=60):
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=timeout)


def test_dry_run_resolves_the_multi_node_torchrun_command(tmp_path):
    env = job_env(fake_slurm(tmp_path), SLURM_JOB_ID="4242", SLURM_NNODES="3", SLURM_JOB_NODELIST="gpu[07-08],cpu3",
                  SLURM_GPUS_ON_NODE="4", SLURM_CPUS_PER_TASK="32", WALRUS_DRY_RUN="1")
    env.pop("OMP_NUM_THREADS", None)
    proc = sbatch(["cfg.yaml", "--max-steps", "10"], env)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    argv = shlex.split(lines[0].removeprefix("command:"))
    assert argv[:3] == ["srun", "--ntasks-per-node=1", "--kill-on-bad-exit=1"]
    torchrun = argv[3:]
    assert torchrun[0] == "torchrun"
    opts = dict(zip(torchrun[1:13:2], torchrun[2:13:2]))
    assert opts == {"--nnodes": "3", "--nproc_per_node": "4", "--rdzv_id": "4242", "--rdzv_backend": "c10d",
                    "--rdzv_endpoint": "gpu07:29500", "--max_restarts": "0"}
    assert torchrun[13:] == ["-m", "walrus.cli", "train", "cfg.yaml", "--max-steps", "10"]
    resolved = dict(line.removeprefix("env: ").split("=", 1) for line in lines[1:])
    assert resolved == {"MASTER": "gpu07", "NNODES": "3", "NPROC_PER_NODE": "4", "WORLD_SIZE": "12",
                        "OMP_NUM_THREADS": "8"}
    assert not (tmp_path / "bin" / "srun.args").exists()  # a dry run launches nothing

    # The overrides, and a job without GPUs (one process per node).
    env.update(WALRUS_RDZV_PORT="31000", WALRUS_NPROC_PER_NODE="2", WALRUS_MAX_RESTARTS="3",
               WALRUS_COMMAND="finetune", SLURM_JOB_NODELIST="n1")
    proc = sbatch(["ft.yaml"], env)
    argv = shlex.split(proc.stdout.splitlines()[0].removeprefix("command:"))
    assert "n1:31000" in argv and argv[argv.index("--nproc_per_node") + 1] == "2"
    assert argv[argv.index("--max_restarts") + 1] == "3" and argv[-2:] == ["finetune", "ft.yaml"]
    del env["SLURM_GPUS_ON_NODE"], env["WALRUS_NPROC_PER_NODE"]
    proc = sbatch(["ft.yaml"], env)
    argv = shlex.split(proc.stdout.splitlines()[0].removeprefix("command:"))
    assert argv[argv.index("--nproc_per_node") + 1] == "1"


def test_refuses_outside_a_job_and_bad_process_counts(tmp_path):
    bin_dir = fake_slurm(tmp_path)
    proc = sbatch(["cfg.yaml"], job_env(bin_dir, WALRUS_DRY_RUN="1"))
    assert proc.returncode != 0 and "not inside a SLURM job" in proc.stderr
    proc = sbatch(["cfg.yaml"], job_env(bin_dir, SLURM_JOB_ID="1", SLURM_NNODES="1", SLURM_JOB_NODELIST="n1",
                                        WALRUS_NPROC_PER_NODE="0", WALRUS_DRY_RUN="1"))
    assert proc.returncode == 2 and "positive integer" in proc.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_one_rank_trains_through_the_scripts_c10d_rendezvous(tmp_path, wave_corpus):
    run = tmp_path / "run"
    config = tmp_path / "train.yaml"
    config.write_text(
        f"datasets:\n  - {{name: waves2d, path: {wave_corpus['waves2d']}}}\n"
        f"out_dir: {run}\nhistory_2d: 3\nepochs: 1\nsteps_per_epoch: 2\nwarmup_epochs: 0\ncooldown_epochs: 0\n"
        "validate_every: 0\nprogress: false\nengine: fsdp\nmesh: [1, 1]\ncheckpoint_every: 2\n"
        "model_overrides: {n_blocks: 1}\n")
    bin_dir = fake_slurm(tmp_path)
    env = job_env(bin_dir, SLURM_JOB_ID="7", SLURM_NNODES="1", SLURM_JOB_NODELIST="localhost",
                  SLURM_CPUS_PER_TASK="1", WALRUS_RDZV_PORT=str(free_port()))
    proc = sbatch([str(config)], env, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    assert "--rdzv_backend c10d --rdzv_endpoint localhost:" in (bin_dir / "srun.args").read_text()
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    steps = [r["global_step"] for r in records if r["event"] == "train"]
    assert steps == [1, 2]
    assert all(r["loss"] == r["loss"] and r["loss"] > 0 for r in records if r["event"] == "train")
    assert (run / "checkpoints" / "step_000000002" / "dcp").is_dir()  # the process group was real (FSDP2, DCP)
    assert (run / "model.safetensors").is_file()
