"""Batching, loss, schedule, sampler and augmentation of the training stack."""

import math
from collections import Counter

import numpy as np
import pytest
import torch

from walrus.data.well_dataset import WellWindowDataset
from walrus.model.normalization import rms_stats
from walrus.model.vocabulary import RELEASE_FIELD_NAMES
from walrus.data.augment import proper_rotations
from walrus.train.augmentation import layout_rules, rotate_batch
from walrus.train.batching import collate, dataset_layout
from walrus.train.loss import causal_targets, delta_l1_loss
from walrus.errors import ConfigError
from walrus.train.config import TrainConfig
from walrus.train.sampler import MultisetSampler
from walrus.train.trainer import dataset_weights
from walrus.train.schedule import warmup_invsqrt_cooldown


def batch_of(root, history=3):
    ds = WellWindowDataset(root, split="train", n_steps_input=history, n_steps_output=1)
    layout = dataset_layout(ds, RELEASE_FIELD_NAMES)
    return ds, layout, collate([ds[0], ds[1]], layout, "w")


def signed_permutation(perm, signs):
    """R with R[j, perm[j]] = signs[j]: new axis j is old axis perm[j], negated where signs[j] = -1."""
    r = np.zeros((3, 3), dtype=int)
    for j, (p, s) in enumerate(zip(perm, signs)):
        r[j, p] = s
    return r


def test_2d_samples_are_lifted_with_zero_components_and_release_ids(wave_corpus):
    ds, layout, batch = batch_of(wave_corpus["waves2d"])
    assert layout.names == ("density", "velocity_x", "velocity_y", "velocity_z")
    assert list(layout.field_ids) == [RELEASE_FIELD_NAMES.index(n) for n in layout.names]
    assert batch.x.shape == (3, 2, 4, 16, 16, 1) and batch.future.shape == (1, 2, 4, 16, 16, 1)
    assert batch.padded_mask.tolist() == [True, True, True, False]
    assert batch.x[:, :, 3].eq(0).all()
    assert batch.bcs[0].tolist() == [[2, 2], [2, 2], [2, 2]]
    sample = ds[0]
    torch.testing.assert_close(batch.x[:, 0, 1, :, :, 0], sample["input_fields"][..., 1].float())


def test_loss_is_l1_of_normalised_deltas_without_the_first_step(wave_corpus):
    _, layout, batch = batch_of(wave_corpus["waves2d"])
    stats = rms_stats(batch.x)
    deltas = causal_targets(batch.x, batch.future)
    assert deltas.shape == batch.x.shape
    perfect = deltas / stats.delta_scale
    assert delta_l1_loss(perfect, batch.x, batch.future, stats, batch.padded_mask) == 0
    wrong_first = perfect.clone()
    wrong_first[0] += 5.0
    assert delta_l1_loss(wrong_first, batch.x, batch.future, stats, batch.padded_mask) == 0  # dropped context step
    off = perfect.clone()
    off[1:, :, 0] += 0.5
    expected = 0.5 * 100 / 4  # one channel of four wrong by 0.5, times the loss multiplier
    assert delta_l1_loss(off, batch.x, batch.future, stats, batch.padded_mask).item() == pytest.approx(expected)
    junk_in_padding = perfect.clone()
    junk_in_padding[:, :, 3] = 7.0  # lifted components are forced to zero
    assert delta_l1_loss(junk_in_padding, batch.x, batch.future, stats, batch.padded_mask) == 0


def test_schedule_follows_the_release():
    lr = [warmup_invsqrt_cooldown(e, 200) for e in range(201)]
    assert lr[0] == pytest.approx(0.1) and lr[5] == pytest.approx(0.55) and lr[10] == pytest.approx(1.0)
    assert lr[11] == pytest.approx(1 / (1 + math.sqrt(129) - math.sqrt(128)))
    assert lr[190] == pytest.approx(1 / (1 + math.sqrt(308) - math.sqrt(128)))
    assert lr[195] == pytest.approx(lr[190] * (1 - math.sqrt(0.5)))
    assert lr[200] == pytest.approx(0.0, abs=1e-12)
    assert all(a >= b for a, b in zip(lr[10:], lr[11:]))
    assert warmup_invsqrt_cooldown(0, 5, warmup=0, cooldown=0) == 1.0  # no warmup: full rate from the start


def test_sampler_is_uniform_over_datasets_not_sizes():
    sampler = MultisetSampler([1000, 10, 10], [2, 2, 1], steps_per_epoch=3000, seed=0)
    counts = Counter(draw.dataset for _, draw in sampler.epoch(0))
    assert all(abs(counts[d] - 1000) < 100 for d in range(3))
    small = [i for _, draw in sampler.epoch(0) if draw.dataset == 2 for i in draw.indices]
    assert set(small) == set(range(10))  # exhausted datasets are reshuffled, every sample is used


def test_sampler_weights_set_each_datasets_share_and_equal_weights_change_nothing():
    weighted = MultisetSampler([40, 40, 40], [2, 2, 1], steps_per_epoch=6000, seed=0, weights=[0.5, 0.5, 1.0])
    counts = Counter(draw.dataset for _, draw in weighted.epoch(0))
    assert abs(counts[2] - 3000) < 150 and abs(counts[0] - 1500) < 120 and abs(counts[1] - 1500) < 120
    plain = MultisetSampler([40, 40, 40], [2, 2, 1], steps_per_epoch=50, seed=4)
    equal = MultisetSampler([40, 40, 40], [2, 2, 1], steps_per_epoch=50, seed=4, weights=[3.0, 3.0, 3.0])
    assert list(plain.epoch(1)) == list(equal.epoch(1))  # runs made before weights existed reproduce
    resumed = MultisetSampler([40, 40, 40], [2, 2, 1], steps_per_epoch=50, seed=4, weights=[1, 1, 2])
    assert list(resumed.epoch(2, start_step=9)) == list(resumed.epoch(2))[9:]


@pytest.mark.parametrize("weights", [[1.0, 1.0], [1.0, 0.0, 1.0], [1.0, -1.0, 1.0]])
def test_sampler_rejects_weights_that_do_not_fit_the_datasets(weights):
    with pytest.raises(ValueError, match="one positive value per dataset"):
        MultisetSampler([40, 40, 40], [2, 2, 1], 10, weights=weights)


def test_dataset_balance_gives_every_system_one_share_whatever_its_resolutions():
    names = ["euler", "euler", "gray_scott", "acoustics_3d", "acoustics_3d"]
    assert dataset_weights(names, "system") == [0.5, 0.5, 1.0, 0.5, 0.5]
    assert dataset_weights(names, "entry") == [1.0] * 5
    sampler = MultisetSampler([20] * 5, [1] * 5, 9000, seed=2, weights=dataset_weights(names, "system"))
    per_system = Counter(names[draw.dataset] for _, draw in sampler.epoch(0))
    assert all(abs(n - 3000) < 150 for n in per_system.values())


def test_dataset_balance_is_checked_by_the_config(tmp_path):
    with pytest.raises(ConfigError, match="dataset_balance"):
        TrainConfig(datasets=[{"name": "x", "path": str(tmp_path)}], dataset_balance="size")


def test_topology_aware_sampling_shares_datasets_within_a_shard_group():
    def datasets(rank, group):
        sampler = MultisetSampler([50, 50, 50], [2, 2, 1], 64, seed=3, rank=rank, sampling_group=group)
        return [(d.dataset, d.indices) for _, d in sampler.epoch(1)]

    a, b = datasets(rank=0, group=0), datasets(rank=1, group=0)
    assert [d for d, _ in a] == [d for d, _ in b]       # same dataset every step
    assert [i for _, i in a] != [i for _, i in b]       # different samples
    naive = datasets(rank=1, group=1)
    assert [d for d, _ in a] != [d for d, _ in naive]


def test_sampler_resumes_mid_epoch_exactly():
    sampler = MultisetSampler([7, 30], [2, 1], 40, seed=1)
    full = list(sampler.epoch(2))
    assert list(sampler.epoch(2, start_step=17)) == full[17:]


def test_sampler_stream_runs_across_epochs_from_any_step_and_stops_at_the_limit():
    sampler = MultisetSampler([7, 30], [2, 1], 5, seed=1)
    every = [d for e in range(3) for _, d in sampler.epoch(e)]
    assert [(d.epoch, d.step) for d in every] == [(e, s) for e in range(3) for s in range(5)]
    assert list(sampler.stream(0, 0, 3)) == every
    assert list(sampler.stream(1, 3, 3)) == every[8:]  # a resumed run's draws, across the epoch boundary
    assert list(sampler.stream(1, 3, 3, limit=4)) == every[8:12]


def test_rotation_moves_grid_components_and_boundaries_by_tensor_law(wave_corpus):
    _, layout, batch = batch_of(wave_corpus["waves2d"])
    batch.bcs[:, 0] = torch.tensor([0, 1])  # make axis 0 a WALL/OPEN axis to see it move
    perm, signs = (2, 0, 1), (1, -1, -1)   # a proper rotation: det(perm) = +1, two flips
    rotated = rotate_batch(batch, layout, signed_permutation(perm, signs), layout_rules(layout))
    assert rotated.x.shape == (3, 2, 4, 1, 16, 16)  # the slab now lies across the first axis
    # new velocity component j is old component perm[j] with sign signs[j]
    old_v = batch.x[:, :, 1:4].permute(0, 1, 2, 5, 3, 4).flip([4, 5])
    torch.testing.assert_close(rotated.x[:, :, 1:4], old_v[:, :, list(perm)] * torch.tensor(signs).view(1, 1, 3, 1, 1, 1).float())
    assert rotated.padded_mask.tolist() == [True, False, True, True]
    assert rotated.bcs[0].tolist() == [[2, 2], [1, 0], [2, 2]]  # old axis 0 is new axis 1, flipped
    speed = lambda b: b.x[:, :, 1:4].pow(2).sum(2)  # noqa: E731
    torch.testing.assert_close(speed(rotated), speed(batch).permute(0, 1, 4, 2, 3).flip([3, 4]))


def test_rotation_then_inverse_is_identity(wave_corpus):
    _, layout, batch = batch_of(wave_corpus["waves3d"], history=2)
    rules = layout_rules(layout)
    for r in proper_rotations(3):
        back = rotate_batch(rotate_batch(batch, layout, r, rules), layout, r.T, rules)
        assert torch.equal(back.x, batch.x) and torch.equal(back.bcs, batch.bcs)
        assert torch.equal(back.padded_mask, batch.padded_mask)


def test_declared_field_transforms_pick_the_model_slot_and_values(wave_corpus):
    from walrus.train.trainer import declared_transforms

    ds = WellWindowDataset(wave_corpus["waves2d"], split="train", n_steps_input=3, n_steps_output=1)
    layout = dataset_layout(ds, RELEASE_FIELD_NAMES, transforms={"density": "log10_density"})
    assert layout.names[0] == "log10_density" and layout.field_ids[0] == RELEASE_FIELD_NAMES.index("log10_density")
    batch = collate([ds[0]], layout)
    torch.testing.assert_close(batch.x[:, 0, 0, :, :, 0], torch.log10(ds[0]["input_fields"][..., 0].float()))
    torch.testing.assert_close(layout.from_network(batch.future[:, 0])[..., 0], ds[0]["output_fields"][..., 0].float())
    assert declared_transforms("acoustics_inclusions_pyclaw")["density"] == "zeros_like_density"
    assert declared_transforms("not_a_registered_dataset") == {}


def test_global_sampling_gives_every_rank_the_same_dataset_across_shard_groups():
    from walrus.train.distributed import DistInfo
    from walrus.train.trainer import sampling_group

    ranks = [DistInfo(rank=r, world_size=8, replicate=2, shard=4) for r in range(8)]
    def datasets(sampling):
        draws = [MultisetSampler([40, 40, 40], [2, 2, 1], 30, seed=5, rank=i.rank,
                                 sampling_group=sampling_group(sampling, i)).epoch(0) for i in ranks]
        return [[d.dataset for _, d in rank_draws] for rank_draws in draws]

    glob, topo, naive = datasets("global"), datasets("topology"), datasets("naive")
    assert all(r == glob[0] for r in glob)                        # one dataset per step for all 8 ranks
    assert topo[0] == topo[3] and topo[4] == topo[7] and topo[0] != topo[4]  # per shard group of 4
    assert naive[0] != naive[1]
