"""``walrus generate``: list registered datasets, or run one's generator into Well files."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

import typer


def list_lines(registry) -> list[str]:
    """One line per dataset, name first: name, domain, source (solver or path), description."""
    lines = []
    for name in sorted(registry.datasets):
        spec = registry.datasets[name]
        where = spec.solver if spec.generator is not None else f"on disk at {spec.path}"
        lines.append(f"{name}\t{spec.domain}\t{spec.source}\t{where}\t{spec.description}".rstrip())
    return lines


def run(*, name: Optional[str], out: Optional[Path], n_traj: Optional[int] = None, res: Optional[int] = None,
        steps: Optional[int] = None, seed: int = 0, list_: bool = False,
        echo: Callable[..., None] = typer.echo) -> Optional[Path]:
    """List datasets (``list_``) or generate ``name`` into ``out/name``; user errors exit with code 2."""
    from walrus.plugins import get_registry

    registry = get_registry()
    if list_:
        for line in list_lines(registry):
            echo(line)
        return None
    if name is None:
        echo("give a dataset name (see `walrus generate --list`)", err=True)
        raise typer.Exit(2)
    if name not in registry.datasets:
        echo(f"unknown dataset {name!r}; registered: {', '.join(sorted(registry.datasets))}", err=True)
        raise typer.Exit(2)
    if out is None:
        echo("give an output directory with --out", err=True)
        raise typer.Exit(2)
    from walrus.data.generators.pipeline import generate_dataset

    try:
        path = generate_dataset(name, out, n_traj=n_traj, res=res, steps=steps, seed=seed)
    except ValueError as exc:
        echo(f"cannot generate {name!r}: {exc}", err=True)
        raise typer.Exit(2) from exc
    except FloatingPointError as exc:  # the solver blew up: say so without a traceback
        echo(f"generating {name!r} failed: {exc}", err=True)
        raise typer.Exit(1) from exc
    echo(f"wrote {path}")
    scaling = written_unit_scaling(path)
    echo(f"units: {scaling}" if scaling else "units: none declared by the generator (files carry no units)")
    return path


def written_unit_scaling(dataset_dir: Path) -> Optional[str]:
    """The generator's statement of its units, as its written files carry it (None if absent)."""
    from walrus.data.generators.pipeline import unit_scaling_of

    first = next(iter(sorted(Path(dataset_dir).glob("data/*/*.hdf5"))), None)
    return None if first is None else unit_scaling_of(first)
