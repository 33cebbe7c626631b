"""Small synthetic Well files, for tests, benchmarks and documentation snippets.

The values are random but the files are complete: time-varying scalar/vector/tensor fields,
a per-trajectory and a shared constant field, a simulation parameter and a time-varying
scalar, units on everything, and mixed boundary conditions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from walrus.io.well_stats import write_dataset_stats
from walrus.io.well_writer import write_well_file

__all__ = ["write_example_well_file", "write_example_dataset"]

_BCS = {1: {"x": "PERIODIC"}, 2: {"x": "PERIODIC", "y": "WALL"}, 3: {"x": "PERIODIC", "y": ("WALL", "OPEN"), "z": "OPEN"}}


def write_example_well_file(path, *, n_dims: int = 2, n_traj: int = 2, n_steps: int = 12, size: int = 16,
                            seed: int = 0, dataset_name: str = "tiny_well", dtype=np.float32) -> Path:
    """Write one synthetic Well file with every kind of variable the format has."""
    rng = np.random.default_rng(seed)
    axes = ["x", "y", "z"][:n_dims]
    spatial = (size,) * n_dims
    D = n_dims

    def r(*shape):
        return rng.standard_normal(shape).astype(dtype)

    return write_well_file(
        path, dataset_name=dataset_name,
        dimensions={a: np.linspace(0.0, 1.0, size, endpoint=False).astype(dtype) for a in axes},
        time=(np.arange(n_steps) * 0.09).astype(dtype),
        fields={"density": 1.0 + 0.1 * r(n_traj, n_steps, *spatial), "pressure": r(n_traj, n_steps, *spatial),
                "velocity": r(n_traj, n_steps, *spatial, D), "C": r(n_traj, n_steps, *spatial, D, D)},
        constant_fields={"mask": (r(n_traj, *spatial) > 0).astype(dtype), "speed_of_sound": 1.0 + r(*spatial) ** 2},
        scalars={"alpha": 0.5, "forcing": r(n_steps)},
        boundary_conditions=_BCS[n_dims],
        units={"density": "kg m-3", "pressure": "Pa", "velocity": "m s-1", "C": "1", "mask": "1",
               "speed_of_sound": "m s-1", "alpha": "1", "forcing": "m s-2", "time": "s", **{a: "m" for a in axes}})


def write_example_dataset(root, *, n_dims: int = 2, files_per_split: int = 2, **kw) -> Path:
    """A dataset root (``data/{train,valid,test}/*.hdf5`` and ``stats.yaml``) of example files."""
    root = Path(root)
    name = kw.pop("dataset_name", "tiny_well")
    for s, split in enumerate(("train", "valid", "test")):
        for k in range(files_per_split):
            write_example_well_file(root / "data" / split / f"{name}_{k}.hdf5", n_dims=n_dims, dataset_name=name,
                                    seed=100 * s + k, **kw)
    write_dataset_stats(root)
    return root
