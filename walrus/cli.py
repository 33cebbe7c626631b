"""The `walrus` command."""

from __future__ import annotations

import functools
import importlib
import json
from pathlib import Path
from typing import Optional

import typer

from walrus.errors import WalrusError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Walrus: a foundation model for continuum dynamics, inside your simulations.")

#: exit status of a refused argument or config file (click's own usage errors use it too)
EXIT_BAD_INPUT = 2


def quiet_option():
    """``--quiet``, the same on every long command: no progress bars (stderr), only the summary and errors."""
    return typer.Option(False, "--quiet", "-q", help="No progress bars; print only the final summary and errors.")


def set_option():
    """``--set KEY=VALUE``, repeatable: a config option replaced for this run (the value read as YAML)."""
    return typer.Option(None, "--set", metavar="KEY=VALUE",
                        help="Replace a config option for this run, e.g. --set max_dt_stride=1 (repeatable; "
                             "the value is read as YAML).")


class BadInput(SystemExit):
    """Ends the command with status 2 after a `WalrusError` was printed; ``str()`` is the message
    (so ``CliRunner().invoke(...).exception`` reads as the error), ``.error`` the WalrusError."""

    def __init__(self, error: WalrusError):
        super().__init__(EXIT_BAD_INPUT)
        self.error = error

    def __str__(self) -> str:
        return f"{type(self.error).__name__}: {self.error}"


def refusals_are_messages(command):
    """Bad input (a `WalrusError`) prints ``Error: <message>`` on stderr and exits 2, without a traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except WalrusError as exc:
            typer.echo(f"Error: {type(exc).__name__}: {exc}", err=True)
            raise BadInput(exc) from None

    return wrapper


@app.command()
@refusals_are_messages
def info(as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON.")) -> None:
    """List the model presets with their sizes (built on the meta device: no memory used)."""
    import walrus
    from walrus.model import get_preset

    rows = []
    for name in walrus.list_models():
        preset = get_preset(name)
        model = walrus.get_model(name, meta=True)
        cfg = preset.config
        rows.append(dict(name=name, parameters=sum(p.numel() for p in model.parameters()),
                         hidden_dim=cfg.hidden_dim, blocks=cfg.n_blocks, heads=cfg.n_heads,
                         vocabulary=cfg.n_states, history_2d=cfg.history_2d, history_3d=cfg.history_3d,
                         description=preset.description))
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    typer.echo(f"walrus {walrus.__version__}")
    for r in rows:
        typer.echo(f"  {r['name']:<13} {r['parameters']:>14,d} params  {r['blocks']:>2} blocks x {r['hidden_dim']:>4} wide"
                   f"  history {r['history_2d']} (2-D) / {r['history_3d']} (3-D)  - {r['description']}")


@app.command()
@refusals_are_messages
def quickstart(out: Path = typer.Option(Path("walrus_quickstart"), help="Directory for data, model and figures."),
               seed: int = typer.Option(0, help="Seed for data, training and jitter."),
               init_from: Optional[Path] = typer.Option(
                   None, "--init-from", help="Checkpoint to fine-tune (default: the pretrained walrus-mini shipped "
                                             "with walrus)."),
               quiet: bool = quiet_option()) -> None:
    """The main job: fine-tune the shipped pretrained model briefly on data from a real solver (and,
    with the same recipe, random weights), score both against persistence on held-out trajectories,
    run the solver with the surrogate swapped in, and report accuracy and speed (netCDF, PNG and GIF
    written to OUT)."""
    from walrus.commands.quickstart import run

    run(out=out, seed=seed, echo=typer.echo, init_from=init_from, quiet=quiet)


@app.command()
@refusals_are_messages
def demo(preset: str = typer.Option("walrus-tiny", help="Model preset to build."),
         weights: Optional[Path] = typer.Option(None, help="Checkpoint to load (ours or the official walrus.pt)."),
         size: int = typer.Option(64, help="Grid cells per axis of the generated 2-D field."),
         boundary: str = typer.Option("periodic", help="periodic, wall or open on both axes."),
         seed: int = typer.Option(0, help="Seed for the weights' init and the jitter draws."),
         out: Optional[Path] = typer.Option(None, help="Write a PNG of input and prediction here.")) -> None:
    """One-step prediction of a model on a generated 2-D flow (a travelling vortex pair)."""
    from walrus.commands.demo import run_demo

    run_demo(preset=preset, weights=weights, size=size, boundary=boundary, seed=seed, out=out, echo=typer.echo)


@app.command()
@refusals_are_messages
def generate(name: Optional[str] = typer.Argument(None, help="Registered dataset to generate."),
             out: Optional[Path] = typer.Option(None, "--out", help="Output directory."),
             n_traj: Optional[int] = typer.Option(None, "--n-traj", help="Trajectories (default: the dataset's)."),
             res: Optional[int] = typer.Option(None, "--res", help="Cells per axis (default: the dataset's)."),
             steps: Optional[int] = typer.Option(None, "--steps", help="Saved time steps per trajectory."),
             seed: int = typer.Option(0, "--seed", help="Seed; the same seed gives the same files."),
             list_: bool = typer.Option(False, "--list", help="List every registered dataset, one per line."),
             quiet: bool = quiet_option()) -> None:
    """Run a registered dataset generator (a real numerical solver) and write Well-format files."""
    try:
        module = importlib.import_module("walrus.commands.generate")
    except ModuleNotFoundError as exc:
        if exc.name != "walrus.commands.generate":
            raise
        typer.echo("dataset generation is not available in this build of walrus", err=True)
        raise typer.Exit(2)
    module.run(name=name, out=out, n_traj=n_traj, res=res, steps=steps, seed=seed, list_=list_, echo=typer.echo,
               quiet=quiet)


@app.command()
@refusals_are_messages
def train(config: Path = typer.Argument(..., exists=True, dir_okay=False, help="Training YAML."),
          out_dir: Optional[str] = typer.Option(None, help="Override the config's out_dir."),
          max_steps: Optional[int] = typer.Option(None, help="Stop after this many steps."),
          prepare_only: bool = typer.Option(False, "--prepare-only",
                                            help="Only generate the config's missing datasets (before a torchrun launch)."),
          set_: Optional[list[str]] = set_option(),
          quiet: bool = quiet_option()) -> None:
    """Pretrain over the config's datasets (generating missing ones first; resumes from the newest
    checkpoint in out_dir)."""
    from walrus.commands.train import run

    run(config, finetune=False, out_dir=out_dir, max_steps=max_steps, echo=typer.echo, quiet=quiet,
        prepare_only=prepare_only, settings=set_)


@app.command()
@refusals_are_messages
def finetune(config: Path = typer.Argument(..., exists=True, dir_okay=False, help="Fine-tuning YAML."),
             out_dir: Optional[str] = typer.Option(None, help="Override the config's out_dir."),
             max_steps: Optional[int] = typer.Option(None, help="Stop after this many steps."),
             set_: Optional[list[str]] = set_option(),
             quiet: bool = quiet_option()) -> None:
    """Fine-tune from `init_from` (ours or the official walrus.pt), optionally with new fields and frozen parts."""
    from walrus.commands.train import run

    run(config, finetune=True, out_dir=out_dir, max_steps=max_steps, echo=typer.echo, quiet=quiet, settings=set_)


@app.command()
@refusals_are_messages
def plot(solver: Path = typer.Argument(..., help="A `walrus quickstart` directory, or the solver's rollout (netCDF)."),
         surrogate: Optional[Path] = typer.Argument(None, help="The surrogate's rollout (netCDF), when SOLVER is a file."),
         out: Optional[Path] = typer.Option(None, "--out", "-o",
                                            help="Animation to write: .gif, or .mp4 with ffmpeg [default: rollout.gif "
                                                 "beside the surrogate's file]."),
         field: Optional[list[str]] = typer.Option(None, "--field", "-f",
                                                   help="Field to show, one row each; repeat for more (vector "
                                                        "components as velocity_x) [default: the scalar fields]."),
         fps: float = typer.Option(4.0, help="Frames per second."),
         dpi: int = typer.Option(80, help="Pixels per inch of the frames."),
         quiet: bool = quiet_option()) -> None:
    """Animate a rollout: solver | surrogate | error (surrogate - solver) per field, one frame per time."""
    from walrus.plot import animate_rollout, check_output, load_rollouts

    if out is not None:
        check_output(out)  # a bad suffix or MP4 without ffmpeg is refused before the files are read
    ds_solver, ds_surrogate = load_rollouts(solver, surrogate)
    if out is None:
        out = (solver if surrogate is None else surrogate.parent) / "rollout.gif"
    result = animate_rollout(ds_solver, ds_surrogate, out, fields=field or None, fps=fps, dpi=dpi, progress=not quiet)
    typer.echo(f"wrote {result.path}: {result.n_frames} frames of {', '.join(result.fields)} "
               f"({result.size_pixels[0]}x{result.size_pixels[1]} px)")


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    app()
