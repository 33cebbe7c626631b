"""The input pipeline: a `torch.utils.data.DataLoader` whose workers build micro-batches ahead of
the training loop.

The sampler stays in the main process and decides everything: each `Draw` (dataset, sample
indices, stride seed, epoch, step) is a pure function of (seed, epoch, step, rank), exactly as the
synchronous loop used. The DataLoader's "indices" are those draws, in order; a worker turns one
draw into a micro-batch: it seeds the dataset's time-stride RNG with the draw's stride seed, reads
and collates the samples and applies the draw's rotation (seeded by the same stride seed). So a
batch depends only on its draw, never on which worker built it or how many workers there are, and
a run resumed at (epoch, step) sees the batches the uninterrupted run saw.

`MicroBatchLoader.batch(draw)` hands the trainer the batch of `draw`. With `num_workers = 0` it
builds it on the spot (the synchronous pipeline). With workers it takes the next prefetched
batch; the stream of draws starts at the first draw asked for and runs to the end of training
(or `max_steps`), and it restarts from the asked-for draw whenever the loop asks for a draw other
than the next one (after a resume, or a call from outside the loop). Batches are pinned in page-
locked memory when training on CUDA, so the copy to the device is a DMA.
"""

from __future__ import annotations

import dataclasses
from typing import Iterable, Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from walrus.train.augmentation import random_element, rotate_batch
from walrus.train.batching import Batch, collate
from walrus.train.sampler import Draw, MultisetSampler

__all__ = ["build_micro_batch", "MicroBatches", "MicroBatchLoader", "resolve_num_workers"]


def resolve_num_workers(num_workers: int | None, device: torch.device) -> int:
    """The configured worker count; `None` (auto) is 2 on CUDA and 0 (synchronous) on CPU, where
    workers would compete with the training math for the same cores."""
    if num_workers is not None:
        return int(num_workers)
    return 2 if device.type == "cuda" else 0


def build_micro_batch(member, draw: Draw, augment: bool = True, reflections: bool = False) -> Batch:
    """The micro-batch of one draw, on the CPU: samples read with the draw's time strides, collated,
    rotated by the draw's rotation. Deterministic in `draw` alone."""
    member.train.rng = np.random.default_rng(draw.stride_seed)  # reproducible time strides
    batch = collate([member.train[i] for i in draw.indices], member.layout, member.name)
    if augment and member.rules is not None:
        rotation = random_element(np.random.default_rng(draw.stride_seed + 1), reflections)
        batch = rotate_batch(batch, member.layout, rotation, member.rules)
    return batch


@dataclasses.dataclass
class Prepared:
    """A built micro-batch and the draw it belongs to (what crosses from a worker)."""

    draw: Draw
    batch: Batch

    def pin_memory(self) -> "Prepared":  # called by the DataLoader's pinning thread
        b = self.batch
        pin = lambda t: None if t is None else t.pin_memory()  # noqa: E731
        return Prepared(self.draw, dataclasses.replace(b, x=pin(b.x), future=pin(b.future), field_ids=pin(b.field_ids),
                                                       bcs=pin(b.bcs), padded_mask=pin(b.padded_mask),
                                                       inside_mask=pin(b.inside_mask)))


class MicroBatches(Dataset):
    """A map-style dataset indexed by `Draw`s: `self[draw]` is that draw's micro-batch."""

    def __init__(self, corpus, augment: bool, reflections: bool):
        self.corpus, self.augment, self.reflections = corpus, augment, reflections

    def __getitem__(self, draw: Draw) -> Prepared:
        return Prepared(draw, build_micro_batch(self.corpus[draw.dataset], draw, self.augment, self.reflections))


class _Draws:
    """The DataLoader's sampler: an iterable of draws (consumed once)."""

    def __init__(self, draws: Iterable[Draw]):
        self.draws = draws

    def __iter__(self) -> Iterator[Draw]:
        return iter(self.draws)


def _keep(item):
    return item


def _worker_init(_):
    torch.set_num_threads(1)  # workers read and collate; leave the cores' threads to the model


class MicroBatchLoader:
    """Micro-batches for the training loop, built ahead by DataLoader workers (see the module doc)."""

    def __init__(self, corpus, sampler: MultisetSampler, epochs: int, num_workers: int = 0, prefetch_factor: int = 2,
                 augment: bool = True, reflections: bool = False, pin_memory: bool = False):
        self.dataset = MicroBatches(corpus, augment, reflections)
        self.sampler, self.epochs = sampler, epochs
        self.num_workers, self.prefetch_factor, self.pin_memory = num_workers, prefetch_factor, pin_memory
        self._it = None
        self._expect: tuple[int, int] | None = None  # (epoch, step) the stream yields next
        self.restarts = 0

    def _start(self, draw: Draw, limit: int | None) -> None:
        self.close()
        draws = self.sampler.stream(draw.epoch, draw.step, self.epochs, limit)
        loader = DataLoader(self.dataset, batch_size=None, sampler=_Draws(draws), num_workers=self.num_workers,
                            collate_fn=_keep, pin_memory=self.pin_memory, prefetch_factor=self.prefetch_factor,
                            worker_init_fn=_worker_init)
        self._it, self._expect = iter(loader), (draw.epoch, draw.step)
        self.restarts += 1

    def batch(self, draw: Draw, limit: int | None = None) -> Batch:
        """The micro-batch of `draw` (on the CPU, pinned on CUDA runs). `limit`: how many draws, from
        this one on, the loop may still ask for (the prefetch stops there); None: to the end."""
        if self.num_workers == 0:
            return build_micro_batch(self.dataset.corpus[draw.dataset], draw, self.dataset.augment,
                                     self.dataset.reflections)
        if self._it is None or self._expect != (draw.epoch, draw.step):
            self._start(draw, limit)
        try:
            item = next(self._it)
        except StopIteration:  # asked past the planned stream: start again here
            self._start(draw, limit)
            item = next(self._it)
        step = item.draw.step + 1
        self._expect = (item.draw.epoch, step) if step < self.sampler.steps_per_epoch else (item.draw.epoch + 1, 0)
        if item.draw != draw:
            raise RuntimeError(f"input pipeline out of step: asked for {draw}, the workers built {item.draw}")
        return item.batch

    def close(self) -> None:
        """Stop the workers (they also stop when the stream ends or the loader is collected)."""
        it, self._it, self._expect = self._it, None, None
        if it is not None and hasattr(it, "_shutdown_workers"):
            it._shutdown_workers()
