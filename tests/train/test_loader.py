"""The input pipeline: DataLoader workers build exactly the batches the synchronous loop built,
whatever the number of workers, and a resumed run sees the same batches from its step on."""

import dataclasses

import pytest
import torch

from walrus.errors import ConfigError
from walrus.train import Trainer
from walrus.train.loader import MicroBatchLoader, resolve_num_workers

from train_helpers import small_config

EPOCHS, STEPS = 2, 4


def same_batch(a, b) -> bool:
    return (a.dataset == b.dataset and torch.equal(a.x, b.x) and torch.equal(a.future, b.future)
            and torch.equal(a.bcs, b.bcs) and torch.equal(a.padded_mask, b.padded_mask)
            and torch.equal(a.field_ids, b.field_ids))


@pytest.fixture(scope="module")
def trainer(wave_corpus, tmp_path_factory):
    cfg = small_config(wave_corpus, tmp_path_factory.mktemp("loader"), epochs=EPOCHS, steps_per_epoch=STEPS,
                       augment=True, max_dt_stride=2, num_workers=0)
    return Trainer(cfg)


def batches(trainer, workers, start=(0, 0)):
    loader = MicroBatchLoader(trainer.corpus, trainer.sampler, EPOCHS, num_workers=workers, prefetch_factor=2,
                              augment=True)
    draws = list(trainer.sampler.stream(*start, EPOCHS))
    out = [loader.batch(d) for d in draws]
    loader.close()
    return draws, out, loader


def test_batches_are_identical_for_0_1_2_workers_and_after_a_mid_epoch_resume(trainer):
    draws, reference, _ = batches(trainer, 0)
    assert [(d.epoch, d.step) for d in draws] == [(e, s) for e in range(EPOCHS) for s in range(STEPS)]
    assert len({d.dataset for d in draws}) == 2  # both datasets (2-D and 3-D) are in the stream
    # the draws differ (strides, rotations, samples): equality below is not trivially true
    assert sum(not same_batch(a, b) for a, b in zip(reference, reference[1:])) >= len(reference) - 2
    # the synchronous path is the trainer's own micro_batch
    assert all(same_batch(trainer.micro_batch(d), b) for d, b in zip(draws, reference))
    for workers in (1, 2):
        _, built, loader = batches(trainer, workers)
        assert loader.restarts == 1  # one stream across the epoch boundary
        assert all(same_batch(a, b) for a, b in zip(built, reference)), workers
    resumed_draws, resumed, _ = batches(trainer, 2, start=(1, 2))  # resume mid-epoch 1
    assert resumed_draws == draws[STEPS + 2:]
    assert all(same_batch(a, b) for a, b in zip(resumed, reference[STEPS + 2:]))


def test_asking_out_of_order_restarts_the_stream_at_the_asked_draw(trainer):
    draws, reference, _ = batches(trainer, 0)
    loader = MicroBatchLoader(trainer.corpus, trainer.sampler, EPOCHS, num_workers=2, augment=True)
    order = [0, 1, 5, 6, 2, 7]
    got = [loader.batch(draws[i], limit=3) for i in order]
    assert all(same_batch(got[k], reference[i]) for k, i in enumerate(order))
    assert loader.restarts == 4  # at 0; at 5 (a jump; 6 comes prefetched); at 2 (back); at 7 (the jump after 2)
    loader.close()
    with pytest.raises(RuntimeError, match="out of step"):
        loader.batch(dataclasses.replace(draws[0], indices=(999,) + draws[0].indices[1:]))


def test_fit_with_workers_gives_the_losses_of_the_synchronous_loop_and_resumes_exactly(wave_corpus, tmp_path):
    common = dict(epochs=2, steps_per_epoch=2, augment=True, max_dt_stride=2, deterministic_model=True,
                  checkpoint_every=3)
    sync = Trainer(small_config(wave_corpus, tmp_path / "sync", num_workers=0, **common)).fit()
    assert len(sync) == 4
    first = Trainer(small_config(wave_corpus, tmp_path / "resumed", num_workers=1, max_steps=3, **common))
    assert first.fit() == sync[:3]
    second = Trainer(small_config(wave_corpus, tmp_path / "resumed", num_workers=2, prefetch_factor=3, **common))
    assert second.fit() == sync[3:]  # resumed mid-epoch (epoch 1, step 1) from the step-3 checkpoint
    assert second.loader.restarts == 1 and second.loader.num_workers == 2


@pytest.mark.parametrize("key, value", [("num_workers", -1), ("num_workers", "2"), ("num_workers", 1.5),
                                        ("prefetch_factor", 0), ("prefetch_factor", None)])
def test_bad_pipeline_options_are_config_errors_naming_the_key(wave_corpus, tmp_path, key, value):
    with pytest.raises(ConfigError, match=key):
        small_config(wave_corpus, tmp_path, **{key: value})


def test_auto_worker_count():
    assert resolve_num_workers(None, torch.device("cpu")) == 0
    assert resolve_num_workers(None, torch.device("cuda")) == 2
    assert resolve_num_workers(3, torch.device("cpu")) == 3
