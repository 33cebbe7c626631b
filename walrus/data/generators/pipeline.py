"""From a registered dataset to Well files on disk: run its generator, split, write, compute stats.

Layout written (The Well's): ``<out>/<name>/data/{train,valid,test}/*.hdf5`` and
``<out>/<name>/stats.yaml``. Trajectories are split 80/10/10 (at least one in valid and test).
When a generator draws per-trajectory parameters (a Reynolds number, ...), each trajectory gets
its own file carrying them as scalars, as The Well stores one file per parameter set.

Units are the generator's own statement (``GeneratedData.units``): nothing here labels solver
output with the registry's canonical units. A dimensional unit needs the generator's
``unit_scaling`` (what one code unit is), which every file carries as the root attribute
``unit_scaling``; names the generator leaves out get no ``units`` attribute.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Optional

import numpy as np

from walrus.errors import FieldError, ShapeError, UnitError
from walrus.hooks import DatasetSpec, GeneratedData
from walrus.units import check_compatible, format_units, parse_units

SPLITS = ("train", "valid", "test")
SCALING_ATTR = "unit_scaling"  # root attribute of each written file: the generator's statement of its units


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
    generated_units(spec, data, registry)


def generated_units(spec: DatasetSpec, data: GeneratedData, registry) -> dict[str, str]:
    """The units the generator declares (CF spelling), checked: each names something it returned,
    a field's units are compatible with its canonical units, and dimensional units come with a
    ``unit_scaling`` statement (no SI labels on code units without saying what a code unit is)."""
    known = {*spec.fields, *spec.constant_fields, *spec.axes, "time", *data.scalars, *data.trajectory_parameters}
    units = {}
    for name, u in data.units.items():
        if name not in known:
            raise FieldError(f"generator of {spec.name!r} declares units for something it does not return",
                             field=name, expected=f"one of {sorted(known)}", received=repr(name))
        unit = parse_units(u, field=name)
        if name in spec.fields or name in spec.constant_fields:
            check_compatible(unit, registry.field(name).units, field=name)
        if not unit.dimensionless and not data.unit_scaling.strip():
            raise UnitError(f"generator of {spec.name!r} labels code units dimensionally without a scaling",
                            field=name, expected="'1', or a unit_scaling saying what one code unit is",
                            received=repr(u))
        units[name] = format_units(unit)
    return units


def write_generated(spec: DatasetSpec, data: GeneratedData, dataset_dir: Path, registry) -> list[Path]:
    """Write the splits of ``data`` as Well files under ``dataset_dir/data`` and return their paths."""
    import h5py

    from walrus.atomic import atomic_path
    from walrus.io import write_well_file

    n_traj = next(iter(data.fields.values())).shape[0]
    # boundary names as the plugins declare them: the writer builds each side's mask with its BoundarySpec
    bcs = {axis: spec.boundary_conditions[axis] for axis in spec.axes}
    ranks = {name: registry.field(name).rank for name in (*spec.fields, *spec.constant_fields)}
    units = generated_units(spec, data, registry)
    if not units:
        warnings.warn(f"the generator of {spec.name!r} declares no units (GeneratedData.units): "
                      f"its files carry no units attributes", stacklevel=2)
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
            with atomic_path(path) as tmp:
                write_well_file(
                    tmp, dataset_name=spec.name, dimensions=data.dimensions, time=data.time,
                    fields={f: data.fields[f][members] for f in spec.fields},
                    constant_fields={f: data.constant_fields[f][members] for f in spec.constant_fields} or None,
                    scalars=scalars or None, ranks=ranks, boundary_conditions=bcs, units=units,
                    grid_type=spec.grid_type)
                if data.unit_scaling.strip():
                    with h5py.File(tmp, "r+") as f:
                        f.attrs[SCALING_ATTR] = data.unit_scaling.strip()
            written.append(path)
    return written


def unit_scaling_of(path) -> str | None:
    """The ``unit_scaling`` statement a generated Well file carries, or None."""
    import h5py

    with h5py.File(path, "r") as f:
        value = f.attrs.get(SCALING_ATTR)
    return None if value is None else (value.decode() if isinstance(value, bytes) else str(value))


def generate_dataset(name: str, out: Path, *, n_traj: Optional[int] = None, res: Optional[int] = None,
                     steps: Optional[int] = None, seed: int = 0, progress: bool = True, registry=None) -> Path:
    """Run the generator of a registered dataset and write it in The Well's layout under ``out/name``.

    The same arguments give the same files: every random draw comes from ``seed``.
    """
    from tqdm.auto import tqdm

    from walrus.io import write_dataset_stats
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
    with tqdm(total=n_traj * steps, desc=name, unit="frame", disable=not progress, dynamic_ncols=True) as bar:
        data = spec.generator(n_traj=n_traj, res=res, steps=steps, seed=seed, progress=bar.update)
    check_generated(spec, data, registry, n_traj, steps)
    dataset_dir = Path(out) / name
    write_generated(spec, data, dataset_dir, registry)
    write_dataset_stats(dataset_dir)
    return dataset_dir
