"""The Well's ``stats.yaml``: per-field normalisation statistics over a dataset's training files.

Numerically what The Well's ``scripts/compute_statistics.py`` produces (WELL_FORMAT.md §1,
stats.yaml), computed one trajectory at a time so a large file never sits in memory whole.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import yaml

from walrus.atomic import atomic_path
from walrus.errors import WellFormatError
from walrus.io.schema import GROUPS
from walrus.io.well_check import attr_bool, group_names, open_well, validate

__all__ = ["compute_stats", "write_dataset_stats"]


class _Moments:
    """Count-weighted first and second moments, per tensor component, in float64."""

    def __init__(self):
        self.n, self.s1, self.s2 = 0, 0.0, 0.0

    def add(self, x: np.ndarray, order: int) -> None:
        x = np.asarray(x, dtype=np.float64)
        axes = tuple(range(x.ndim - order))
        self.n += int(np.prod(x.shape[: x.ndim - order]))
        self.s1 = self.s1 + x.sum(axis=axes)
        self.s2 = self.s2 + (x * x).sum(axis=axes)

    def result(self):
        m1, m2 = self.s1 / self.n, self.s2 / self.n
        std = np.sqrt(np.maximum(m2 - m1 ** 2, 0.0))
        return m1, std, np.sqrt(m2)


def compute_stats(files: Sequence[str | os.PathLike]) -> dict:
    """The Well's ``stats.yaml`` content over ``files``.

    Per field and per component, reducing every axis but the tensor axes, float64, population
    variance, files combined by counts. Deltas are differences along the time axis of time-varying
    fields; constant fields appear only in mean/std/rms. Reads one trajectory at a time.
    """
    plain: dict[str, _Moments] = {}
    delta: dict[str, _Moments] = {}
    for p in files:
        with open_well(p) as f:
            validate(f, str(p))
            for order, grp in enumerate(GROUPS):
                g = f[grp]
                for name in group_names(g):
                    ds = g[name]
                    sv, tv = attr_bool(ds.attrs["sample_varying"]), attr_bool(ds.attrs["time_varying"])
                    chunks = (ds[i] for i in range(ds.shape[0])) if sv else [ds[()]]
                    for x in chunks:
                        plain.setdefault(name, _Moments()).add(x, order)
                        if tv:
                            delta.setdefault(name, _Moments()).add(np.diff(np.asarray(x, np.float64), axis=0), order)
    if not plain:
        raise WellFormatError("no fields to compute statistics over", field="stats", expected="Well files with fields",
                              received=[str(p) for p in files])
    stats: dict = {k: {} for k in ("mean", "std", "rms", "mean_delta", "std_delta", "rms_delta")}
    for name, m in plain.items():
        for key, val in zip(("mean", "std", "rms"), m.result()):
            stats[key][name] = _tolist(val)
    for name, m in delta.items():
        for key, val in zip(("mean_delta", "std_delta", "rms_delta"), m.result()):
            stats[key][name] = _tolist(val)
    return stats


def _tolist(v):
    v = np.asarray(v, dtype=np.float64)
    return float(v) if v.ndim == 0 else v.tolist()


def write_dataset_stats(dataset_dir) -> Path:
    """Write ``<dataset_dir>/stats.yaml`` from ``<dataset_dir>/data/train/*.hdf5`` (and ``*.h5``), atomically."""
    root = Path(dataset_dir)
    train = root / "data" / "train"
    files = sorted(glob.glob(str(train / "*.hdf5")) + glob.glob(str(train / "*.h5")))
    if not files:
        raise WellFormatError("no training files", field=str(train), expected="data/train/*.hdf5",
                              received="no .hdf5/.h5 files")
    stats = compute_stats(files)
    out = root / "stats.yaml"
    with atomic_path(out) as tmp:
        with open(tmp, "w") as fh:
            yaml.safe_dump(stats, fh, sort_keys=False)
    return out
