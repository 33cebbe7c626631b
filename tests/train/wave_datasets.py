"""Small analytic datasets in Well format for training tests: a travelling wave that a model can learn."""

from pathlib import Path

import numpy as np

from walrus.io import write_dataset_stats, write_well_file


def travelling_wave_dataset(root: Path, n_dims: int = 2, size: int = 32, n_traj: int = 2, n_steps: int = 12,
                            name: str = "waves", seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    axes = ["x", "y", "z"][:n_dims]
    coords = np.linspace(0.0, 1.0, size, endpoint=False)
    grids = np.meshgrid(*([coords] * n_dims), indexing="ij")
    t = np.arange(n_steps) * 0.02
    for s, split in enumerate(("train", "valid")):
        density, velocity = [], []
        for _ in range(n_traj):
            c = rng.uniform(0.5, 1.5, n_dims)
            phase = rng.uniform(0, 2 * np.pi)
            frames = [1.0 + 0.5 * np.sin(2 * np.pi * sum(g - ci * tt for g, ci in zip(grids, c)) + phase) for tt in t]
            density.append(np.stack(frames))
            velocity.append(np.broadcast_to(c, (n_steps, *([size] * n_dims), n_dims)))
        write_well_file(root / "data" / split / f"{name}.hdf5", dataset_name=name,
                        dimensions={a: coords for a in axes}, time=t,
                        fields={"density": np.stack(density), "velocity": np.stack(velocity)},
                        boundary_conditions={a: "PERIODIC" for a in axes},
                        units={"density": "kg m-3", "velocity": "m s-1"})
    write_dataset_stats(root)
    return root
