"""From a registered dataset to Well files on disk: run its generator, split, write, compute stats.

Layout written (The Well's): ``<out>/<name>/data/{train,valid,test}/*.hdf5`` and
``<out>/<name>/stats.yaml``. Trajectories are split 80/10/10 (at least one in valid and test).
When a generator draws per-trajectory parameters (a Reynolds number, ...), each trajectory gets
its own file carrying them as scalars, as The Well stores one file per parameter set.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from walrus.errors import FieldError, ShapeError
from walrus.hooks import DatasetSpec, GeneratedData

SPLITS = ("train", "valid", "test")
AXIS_UNITS = "m"
TIME_UNITS = "s"


def split_trajectories(n_traj: int) -> dict[str, np.ndarray]:
    """Indices of the train/valid/test trajectories: 80/10/10, each split non-empty."""
    if n_traj < 3:
        raise ValueError(f"n_traj must be at least 3 (one trajectory per split), received {n_traj}")
    n_hold = max(1, int(round(0.1 * n_traj)))
    idx = np.arange(n_traj)
    return {"train": idx[: n_traj - 2 * n_hold], "valid": idx[n_traj - 2 * n_hold: n_traj - n_hold],
            "test": idx[n_traj - n_hold:]}


def check_generated(spec: DatasetSpec, data: GeneratedData, registry, n_traj: int, steps: int) -> None:
    """The generator returned exactly the dataset's fields, each shaped by its rank."""
    for kind, declared, got in (("field", spec.fields, data.fields),
                                ("constant field", spec.constant_fields, data.constant_fields)):
        if set(declared) != set(got):
            raise FieldError(f"generator of {spec.name!r} returned other {kind}s than declared", field=spec.name,
                             expected=sorted(declared), received=sorted(got))
    spatial = tuple(len(data.dimensions[a]) for a in spec.axes)
    for name, values in {**data.fields, **data.constant_fields}.items():
        rank = registry.field(name).rank
        lead = (n_traj, steps) if name in data.fields else (n_traj,)
        expected = lead + spatial + (spec.ndim,) * rank
        if tuple(values.shape) != expected:
            raise ShapeError(f"generator of {spec.name!r} returned a badly shaped array", field=name,
                             expected=expected, received=tuple(values.shape))
        if not np.isfinite(values).all():
            raise ShapeError(f"generator of {spec.name!r} returned non-finite values", field=name,
                             expected="finite values", received="NaN or inf")


def _units(spec: DatasetSpec, registry) -> dict[str, str]:
    units = {name: registry.field(name).units for name in (*spec.fields, *spec.constant_fields)}
    units.update({axis: AXIS_UNITS for axis in spec.axes})
    units["time"] = TIME_UNITS
    return units


def write_generated(spec: DatasetSpec, data: GeneratedData, dataset_dir: Path, registry) -> list[Path]:
    """Write the splits of ``data`` as Well files under ``dataset_dir/data`` and return their paths."""
    from walrus.io.well import write_well_file

    n_traj = next(iter(data.fields.values())).shape[0]
    bcs = {axis: registry.boundary_kind(spec.boundary_conditions[axis]) for axis in spec.axes}
    ranks = {name: registry.field(name).rank for name in (*spec.fields, *spec.constant_fields)}
    units = _units(spec, registry)
    for old in (dataset_dir / "data").glob(f"*/{spec.name}*.hdf5"):  # a re-run replaces, never mixes, runs
        old.unlink()
    written = []
    for split, idx in split_trajectories(n_traj).items():
        groups = [[k] for k in idx] if data.trajectory_parameters else [list(idx)]
        for members in groups:
            scalars = dict(data.scalars)
            stem = spec.name
            if data.trajectory_parameters:
                k = members[0]
                scalars.update({p: float(v[k]) for p, v in data.trajectory_parameters.items()})
                stem = f"{spec.name}_traj{k:03d}"
            path = dataset_dir / "data" / split / f"{stem}.hdf5"
            path.parent.mkdir(parents=True, exist_ok=True)
            written.append(write_well_file(
                path, dataset_name=spec.name, dimensions=data.dimensions, time=data.time,
                fields={f: data.fields[f][members] for f in spec.fields},
                constant_fields={f: data.constant_fields[f][members] for f in spec.constant_fields} or None,
                scalars=scalars or None, ranks=ranks, boundary_conditions=bcs, units=units,
                grid_type=spec.grid_type))
    return written


def generate_dataset(name: str, out: Path, *, n_traj: Optional[int] = None, res: Optional[int] = None,
                     steps: Optional[int] = None, seed: int = 0, progress: bool = True, registry=None) -> Path:
    """Run the generator of a registered dataset and write it in The Well's layout under ``out/name``.

    The same arguments give the same files: every random draw comes from ``seed``.
    """
    from tqdm.auto import tqdm

    from walrus.io.well import write_dataset_stats
    from walrus.plugins import get_registry

    registry = registry or get_registry()
    spec = registry.dataset(name)
    if spec.generator is None:
        raise ValueError(f"dataset {name!r} is not generated: it is read from {spec.path}")
    n_traj = int(spec.defaults.get("n_traj", 6) if n_traj is None else n_traj)
    res = int(spec.defaults.get("res", 64) if res is None else res)
    steps = int(spec.defaults.get("steps", 30) if steps is None else steps)
    split_trajectories(n_traj)  # refuse too few trajectories before spending solver time
    for what, value, low in (("res", res, 8), ("steps", steps, 2)):
        if value < low:
            raise ValueError(f"{what} must be at least {low}, received {value}")
    with tqdm(total=n_traj * steps, desc=name, unit="frame", disable=not progress, leave=False) as bar:
        data = spec.generator(n_traj=n_traj, res=res, steps=steps, seed=seed, progress=bar.update)
    check_generated(spec, data, registry, n_traj, steps)
    dataset_dir = Path(out) / name
    write_generated(spec, data, dataset_dir, registry)
    write_dataset_stats(dataset_dir)
    return dataset_dir
