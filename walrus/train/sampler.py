"""Which dataset and which samples each micro-batch uses (the release's `BatchedMultisetSampler`).

Every micro-batch picks one dataset, not weighted by its size, then the next samples of that
dataset's shuffled order; an exhausted dataset is reshuffled. By default the pick is uniform over
the datasets; `weights` makes it uniform over something else, such as physical systems when one
system appears at two resolutions (the trainer's `dataset_balance`).
The dataset choice is seeded by (seed, epoch, sampling group): with topology-aware sampling the
group is the rank's *shard group*, so every rank that shares parameter shards draws the same
dataset at each step (same shapes, same cost, no rank waiting on a slower one), while the sample
draws differ per rank. Naive sampling uses the global rank as the group.

Everything is a pure function of (seed, epoch, step, rank), so resuming needs only
(epoch, step): no RNG state to save, and a resumed run draws exactly what the first run would have.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Draw:
    dataset: int
    indices: tuple[int, ...]
    stride_seed: int
    epoch: int = 0  # where the draw sits in the run (the input pipeline matches prefetched batches by it)
    step: int = 0


class MultisetSampler:
    def __init__(self, dataset_sizes: list[int], batch_sizes: list[int], steps_per_epoch: int, seed: int = 0,
                 rank: int = 0, sampling_group: int = 0, weights: list[float] | None = None):
        if not dataset_sizes or min(dataset_sizes) <= 0:
            raise ValueError(f"every dataset needs at least one sample, got sizes {dataset_sizes}")
        if weights is not None and (len(weights) != len(dataset_sizes) or min(weights) <= 0):
            raise ValueError(f"weights need one positive value per dataset ({len(dataset_sizes)}), got {weights}")
        # Equal weights draw exactly as no weights do, so a corpus without repeated systems
        # reproduces the runs made before weights existed.
        self.weights = None if weights is None or len(set(weights)) == 1 else np.asarray(weights) / sum(weights)
        self.sizes, self.batch_sizes = list(dataset_sizes), list(batch_sizes)
        self.steps_per_epoch, self.seed = steps_per_epoch, seed
        self.rank, self.group = rank, sampling_group

    def dataset_choices(self, epoch: int) -> np.ndarray:
        """The dataset of every step of an epoch: identical for all ranks of one sampling group."""
        rng = np.random.default_rng([100 * epoch + 10 * self.seed + self.group, 0xD5])
        if self.weights is None:
            return rng.integers(0, len(self.sizes), self.steps_per_epoch)
        return rng.choice(len(self.sizes), self.steps_per_epoch, p=self.weights)

    def _order(self, epoch: int, dataset: int, cycle: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, epoch, self.rank, dataset, cycle])
        return rng.permutation(self.sizes[dataset])

    def epoch(self, epoch: int, start_step: int = 0):
        """Yield (step, Draw) from `start_step` to the end of the epoch."""
        choices = self.dataset_choices(epoch)
        cursor = [0] * len(self.sizes)
        cycles = [0] * len(self.sizes)
        orders = [None] * len(self.sizes)
        for step, d in enumerate(choices.tolist()):
            indices = []
            for _ in range(self.batch_sizes[d]):
                if orders[d] is None or cursor[d] >= self.sizes[d]:
                    if orders[d] is not None:
                        cycles[d] += 1
                    orders[d], cursor[d] = self._order(epoch, d, cycles[d]), 0
                indices.append(int(orders[d][cursor[d]]))
                cursor[d] += 1
            if step >= start_step:
                yield step, Draw(d, tuple(indices), hash((self.seed, epoch, step, self.rank)) & 0x7FFFFFFF, epoch, step)

    def stream(self, epoch: int, start_step: int, epochs: int, limit: int | None = None):
        """The draws from (epoch, start_step) to the end of epoch `epochs - 1`, at most `limit` of them:
        what the training loop will ask for, in order (the input pipeline builds them ahead)."""
        count = 0
        for e in range(epoch, epochs):
            for _, draw in self.epoch(e, start_step if e == epoch else 0):
                if limit is not None and count >= limit:
                    return
                count += 1
                yield draw
