"""HSDP on a real 2-D mesh: four processes on gloo, (2 replicate x 2 shard), as two nodes of two
GPUs would run it. One step equals the single-process step on the same global batch, and the
parameters are really sharded within a row and replicated across rows."""

import os
import subprocess
import sys
from pathlib import Path

import torch

from train_helpers import assert_same_step

HERE = Path(__file__).parent


def test_hsdp_2x2_step_equals_one_process_step_and_shards_parameters(tmp_path):
    # The update is SGD (dist_step.optimizer): it is linear in the gradient, so parameters equal to
    # fp32 round-off mean the mesh's reduced gradient equals the one-process gradient of the same
    # 4 micro-batches. Adam divides by sqrt(v) and would blow float noise in gradients that are zero
    # by symmetry (key-norm biases) up to O(lr) differences that say nothing about the sharding.
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "4",
           str(HERE / "dist_step.py"), str(tmp_path / "hsdp.pt"), "2", "2"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    subprocess.run([sys.executable, str(HERE / "dist_step.py"), str(tmp_path / "ref.pt"), "0", "0", "4"],
                   check=True, env=env, timeout=600)

    full = torch.load(tmp_path / "hsdp.pt")
    assert_same_step(full, torch.load(tmp_path / "ref.pt"))
    model = __import__("dist_step").make_model()

    ranks = [torch.load(tmp_path / f"hsdp.rank{r}.pt") for r in range(4)]
    assert set(ranks[0]) == {name for name, _ in model.named_parameters()}  # every parameter is a DTensor
    sharded_bytes = 0
    for key, whole in full.items():
        if key not in ranks[0]:
            continue
        chunks = torch.chunk(whole, 2, dim=0)  # FSDP2 shards dim 0 in torch.chunk pieces
        for r, info in enumerate(ranks):
            replica, shard = divmod(r, 2)  # rank = replica * 2 + shard on a (2, 2) mesh
            assert info[key]["mesh"] == [2, 2] and info[key]["coordinate"] == [replica, shard], key
            assert info[key]["placements"] == ["Replicate", "Shard(0)"], (key, info[key]["placements"])
            local = info[key]["local"]
            expected = chunks[shard] if shard < len(chunks) else whole[:0]
            assert local.shape == expected.shape, (key, r, local.shape, whole.shape)
            assert torch.equal(local, expected), (key, r)  # the shard is this part of the full tensor
        for shard in range(2):  # the two replicas of a shard hold the same numbers
            assert torch.equal(ranks[shard][key]["local"], ranks[2 + shard][key]["local"]), key
        assert ranks[0][key]["local"].shape[0] + ranks[1][key]["local"].shape[0] == whole.shape[0]
        sharded_bytes += ranks[0][key]["local"].numel()
        if whole.shape[0] % 2 == 0:
            assert ranks[0][key]["local"].shape[0] == whole.shape[0] // 2
    total = sum(v.numel() for k, v in full.items() if k in ranks[0])
    assert abs(sharded_bytes / total - 0.5) < 0.01, sharded_bytes / total  # each rank holds ~half the model
