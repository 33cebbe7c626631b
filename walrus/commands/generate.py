"""``walrus generate``: list registered datasets, or run one's generator into Well files."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Callable, Optional

import typer

from walrus.errors import ConfigError, WalrusError


def list_lines(registry) -> list[str]:
    """One line per dataset, name first: name, domain, source (solver or path), description."""
    lines = []
    for name in sorted(registry.datasets):
        spec = registry.datasets[name]
        where = spec.solver if spec.generator is not None else f"on disk at {spec.path}"
        lines.append(f"{name}\t{spec.domain}\t{spec.source}\t{where}\t{spec.description}".rstrip())
    return lines


#: upper limits of the size options (a typo such as --res 100000 should not start a solver for days)
LIMITS = {"n_traj": 100_000, "res": 4_096, "steps": 100_000}
OPTION = {"n_traj": "--n-traj", "res": "--res", "steps": "--steps"}


def check_sizes(**sizes: Optional[int]) -> None:
    """``n_traj``/``res``/``steps`` are None (the dataset's default) or integers in [1, LIMITS]."""
    for key, value in sizes.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= LIMITS[key]:
            raise ConfigError(field=OPTION[key], expected=f"an integer in [1, {LIMITS[key]:,}] (or omit it for the "
                              "dataset's default)", received=repr(value))


def run(*, name: Optional[str], out: Optional[Path], n_traj: Optional[int] = None, res: Optional[int] = None,
        steps: Optional[int] = None, seed: int = 0, list_: bool = False,
        echo: Callable[..., None] = typer.echo, quiet: bool = False) -> Optional[Path]:
    """List datasets (``list_``) or generate ``name`` into ``out/name``.

    Bad requests raise `ConfigError` naming the argument (the CLI prints it and exits 2); a solver
    that blows up exits 1. ``quiet`` hides the progress bar (frames, rate, ETA on stderr).
    """
    from walrus.plugins import get_registry

    registry = get_registry()
    if list_:
        for line in list_lines(registry):
            echo(line)
        return None
    registered = sorted(registry.datasets)
    if name is None:
        raise ConfigError("give a dataset name (see `walrus generate --list`)", field="NAME",
                          expected=f"one of {', '.join(registered)}", received="nothing")
    if name not in registry.datasets:
        close = difflib.get_close_matches(name, registered, n=1)
        raise ConfigError(f"unknown dataset {name!r}", field="NAME", expected=f"one of {', '.join(registered)}",
                          received=repr(name), hint=f"did you mean {close[0]!r}?" if close else None)
    if out is None:
        raise ConfigError("give an output directory with --out", field="--out", expected="a directory",
                          received="nothing")
    if Path(out).exists() and not Path(out).is_dir():
        raise ConfigError("--out is not a directory", field="--out", expected="a directory (created if missing)",
                          received=f"{out} (an existing file)")
    check_sizes(n_traj=n_traj, res=res, steps=steps)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2 ** 32:
        raise ConfigError(field="--seed", expected="an integer in [0, 2**32)", received=repr(seed))
    from walrus.data.generators.pipeline import generate_dataset

    try:
        path = generate_dataset(name, out, n_traj=n_traj, res=res, steps=steps, seed=seed, progress=not quiet)
    except WalrusError:
        raise
    except ValueError as exc:
        raise ConfigError(f"cannot generate {name!r}: {exc}", field=f"dataset {name!r}",
                          expected="options this dataset's generator accepts", received=
                          f"--n-traj {n_traj}, --res {res}, --steps {steps}") from None
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
