"""DeepSpeed helper for tests/train/test_deepspeed.py, run under
`torchrun --standalone --nproc_per_node 2` (CPU, gloo, a client torch optimizer: nothing JIT-built).

  ds_run.py check STAGE CORPUS_JSON OUT     accumulation == large batch, checkpoint round trip, export
  ds_run.py train STAGE CORPUS_JSON OUT STEPS [slow]
                                            train (resuming if possible) with grad_accumulation 2

`check` writes OUT/result.pt on rank 0: the full weights at the start, after one accumulated step
(N micro-batches of B samples), after one step on the N*B batch, after a checkpoint written and
loaded by a fresh trainer, and after one more accumulated step of both the original and the
resumed trainer. `accumulated_and_large` also runs in one process with the single engine.
"""

import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

sys.path.insert(0, str(Path(__file__).parent))

from train_helpers import small_config  # noqa: E402
from walrus.train import Trainer  # noqa: E402
from walrus.train.batching import collate  # noqa: E402
from walrus.train.checkpointing import full_model_state  # noqa: E402

N_MICRO, MICRO = 2, 2   # an accumulated step of N_MICRO micro-batches of MICRO samples


class SGDTrainer(Trainer):
    # SGD: the update is linear in the gradient, so equal weights mean equal gradients (Adam's
    # g / sqrt(v) would blow float noise in gradients that are zero by symmetry up to lr).
    def _optimizer(self, params):
        return torch.optim.SGD(params, lr=self.cfg.lr, momentum=0.9, weight_decay=1e-4)


def make_trainer(corpus: dict, out: Path, engine: str, stage: int, accumulation: int) -> SGDTrainer:
    cfg = small_config(corpus, out, engine=engine, zero_stage=stage, grad_accumulation=accumulation, epochs=1,
                       steps_per_epoch=2 * N_MICRO, deterministic_model=True, augment=False, max_dt_stride=1,
                       lr=1e-3, grad_clip=1e6)  # no clipping: it would hide a wrongly scaled gradient
    return SGDTrainer(cfg)


def micro_batches(trainer: Trainer, rank: int, round_: int) -> tuple:
    """This rank's N_MICRO micro-batches of MICRO samples, and all of them as one batch (different
    per rank and round)."""
    member = trainer.corpus[0]
    member.train.rng = np.random.default_rng(0)
    n = len(member.train)
    first = (rank * 2 + round_) * N_MICRO * MICRO
    samples = [member.train[(first + j) % n] for j in range(N_MICRO * MICRO)]
    return [collate(samples[k * MICRO:(k + 1) * MICRO], member.layout, member.name).to(trainer.device)
            for k in range(N_MICRO)], collate(samples, member.layout, member.name).to(trainer.device)


def full_state(trainer: Trainer) -> dict | None:
    """A copy of the full weights on rank 0 (collective; the single engine's would alias the live ones)."""
    state = full_model_state(trainer.engine)
    return None if state is None else {k: v.detach().clone() for k, v in state.items()}


def accumulated_step(trainer: Trainer, batches: list) -> list[float]:
    norms = [trainer.train_micro_step(b, seed=k, boundary=k == len(batches) - 1)[1] for k, b in enumerate(batches)]
    trainer.global_step += len(batches)
    trainer.step += len(batches)
    return norms


def accumulated_and_large(corpus: dict, out: Path, engine: str, stage: int = 2, rank: int = 0):
    """(accumulating trainer, initial weights, weights after the accumulated step, weights after
    one step on the whole batch, the accumulated step's grad norms, the large step's)."""
    acc = make_trainer(corpus, out / "accumulated", engine, stage, N_MICRO)
    initial = full_state(acc)
    micro, whole = micro_batches(acc, rank, 0)
    acc_norms = accumulated_step(acc, micro)
    large = make_trainer(corpus, out / "large", engine, stage, 1)
    large_norm = large.train_micro_step(whole, seed=0, boundary=True)[1]
    return acc, initial, full_state(acc), full_state(large), acc_norms, large_norm


def check(stage: int, corpus: dict, out: Path) -> None:
    rank = int(os.environ["RANK"])  # the trainer joins the process group
    acc, initial, accumulated, large, acc_norms, large_norm = accumulated_and_large(corpus, out, "deepspeed",
                                                                                   stage, rank)
    acc.save()
    resumed = make_trainer(corpus, out / "accumulated", "deepspeed", stage, N_MICRO)
    assert resumed.resume() and resumed.global_step == N_MICRO
    after_load = full_state(resumed)
    micro, _ = micro_batches(acc, rank, 1)
    accumulated_step(acc, micro)
    accumulated_step(resumed, micro)
    second, resumed_second = full_state(acc), full_state(resumed)
    exported = acc.export(out / "model.safetensors")
    if rank == 0:
        torch.save(dict(initial=initial, accumulated=accumulated, large=large, after_load=after_load,
                        second=second, resumed_second=resumed_second, acc_norms=acc_norms, large_norm=large_norm,
                        exported=str(exported)), out / "result.pt")
    dist.barrier()


def train(stage: int, corpus: dict, out: Path, steps: int, slow: bool) -> None:
    # 2-D and 3-D batches (topology sampling: both ranks draw the same dataset, different samples;
    # ZeRO-3 gathers the unused encoder pair as external parameters).
    cfg = small_config(corpus, out, engine="deepspeed", zero_stage=stage, grad_accumulation=2, epochs=2,
                       steps_per_epoch=6, checkpoint_every=2, max_steps=steps, augment=True, max_dt_stride=2)
    trainer = Trainer(cfg)
    if slow:  # give the test time to kill us between steps
        original = trainer.loss
        trainer.loss = lambda batch, seed: (time.sleep(0.3), original(batch, seed))[1]
    trainer.fit()
    trainer.close()


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    mode, stage, corpus, out = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3]), Path(sys.argv[4])
    corpus = {k: Path(v) for k, v in corpus.items()}
    if mode == "check":
        check(stage, corpus, out)
    else:
        train(stage, corpus, out, int(sys.argv[5]), len(sys.argv) > 6)
    if dist.is_initialized():
        dist.destroy_process_group()
