"""`walrus plot` and `walrus.plot.animate_rollout`: GIFs of solver | surrogate | error from quickstart's netCDF.

The input is written by the quickstart's own writer (`write_rollouts`) from tiny synthetic
States, so the files have the same structure as `walrus quickstart`'s without running a solver.
"""

import re

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from walrus.cli import EXIT_BAD_INPUT, BadInput, app
from walrus.commands.quickstart import write_rollouts
from walrus.errors import ConfigError, FieldError
from walrus.io.xr import open_dataset
from walrus.plot import animate_rollout, figure_size, plottable_fields
from walrus.state import State

runner = CliRunner()
T, NX, NY = 4, 12, 10
DPI = 40  # small frames keep the tests fast
KINDS = ["solver", "surrogate", "surrogate"]  # what computed frames 1..3 of the hybrid run


def rollout(shift: float) -> State:
    """A wave in height and a shear in velocity_x over a 10 m x 10 m grid, 4 frames 0.25 s apart."""
    x, y, t = (np.arange(NX) + 0.5) / NX, (np.arange(NY) + 0.5) / NY, np.arange(T) * 0.25
    height = 1 + 0.1 * np.sin(2 * np.pi * (x[None, :, None] - t[:, None, None] - shift)) * np.ones((1, 1, NY))
    velocity = np.stack([np.cos(2 * np.pi * y)[None, None, :] * np.ones((T, NX, 1)) * (1 + shift),
                         np.zeros((T, NX, NY))], axis=-1)
    return State(fields={"height": height, "velocity": velocity}, time=t, coords={"x": 10 * x, "y": 10 * y},
                 boundaries={"x": "periodic", "y": "wall"},
                 units={"height": "m", "velocity": "m s-1", "time": "s", "x": "m", "y": "m"})


@pytest.fixture(scope="module")
def qs_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("quickstart")
    paths, _ = write_rollouts(out, rollout(0.0), rollout(0.05), KINDS, "surrogate")
    assert set(paths) == {"solver_nc", "hybrid_nc"}
    return out


def plot(*args):
    return runner.invoke(app, ["plot", *map(str, args)])


def refused(result, error_class, *needles):
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    assert isinstance(result.exception, BadInput) and isinstance(result.exception.error, error_class), result.exception
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in result.output, (needle, result.output)


def gif_frames(path) -> list[np.ndarray]:
    with Image.open(path) as im:
        frames = []
        for i in range(im.n_frames):
            im.seek(i)
            frames.append(np.asarray(im.convert("RGB")))
        return frames


RATE = re.compile(r"\d+(\.\d+)?(frame|step|it)/s|s/(frame|step|it)")  # a tqdm rate: "12.5frame/s" or "1.2s/frame"


def test_plot_writes_one_frame_per_time_with_one_row_per_field(qs_dir, tmp_path):
    out = tmp_path / "one.gif"
    result = plot(qs_dir, "--out", out, "--dpi", DPI)
    assert result.exit_code == 0, result.output
    assert "4 frames of height" in result.stdout  # the default: the scalar fields (height; not velocity)
    assert "plot: 100%" in result.stderr and RATE.search(result.stderr), result.stderr  # a bar with a rate
    frames = gif_frames(out)
    assert len(frames) == T
    width, height = figure_size(1)
    assert frames[0].shape[:2] == (round(height * DPI), round(width * DPI))
    assert not np.array_equal(frames[0], frames[-1])  # the field moves (and the time in the title changes)

    two = tmp_path / "two.gif"
    result = plot(qs_dir / "solver.nc", qs_dir / "hybrid.nc", "-o", two, "--dpi", DPI,
                  "--field", "height", "--field", "velocity_x", "--quiet")
    assert result.exit_code == 0, result.output
    assert "of height, velocity_x" in result.stdout and result.stderr == ""  # --quiet: no bar
    with Image.open(two) as im:
        assert im.n_frames == T
        assert im.size == (round(figure_size(2)[0] * DPI), round(figure_size(2)[1] * DPI))
        assert im.size[1] > 1.8 * round(figure_size(1)[1] * DPI) - DPI  # a second row of panels


def test_panels_share_colour_limits_and_the_error_is_symmetric(qs_dir, tmp_path):
    solver, hybrid = open_dataset(qs_dir / "solver.nc"), open_dataset(qs_dir / "hybrid.nc")
    fields = plottable_fields(hybrid)
    assert list(fields) == ["height", "velocity_x", "velocity_y"]  # step_kind (a flag over time only) is not a field
    assert fields["velocity_x"].dims == ("time", "x", "y") and fields["velocity_x"].attrs["units"] == "m s-1"
    result = animate_rollout(solver, hybrid, tmp_path / "a.gif", fields=["velocity_x", "height"], dpi=DPI)
    assert result.fields == ("velocity_x", "height") and result.n_frames == T
    for name in result.fields:
        a, b = solver[name.split("_")[0]].values, hybrid[name.split("_")[0]].values
        if name == "velocity_x":
            a, b = a[..., 0], b[..., 0]
        lo, hi = result.limits[name]["value"]
        assert (lo, hi) == (min(a.min(), b.min()), max(a.max(), b.max()))  # over all frames, both runs
        assert result.limits[name]["error"] == (-np.abs(b - a).max(), np.abs(b - a).max()) != (0, 0)
    frame = gif_frames(result.path)[-1].astype(int)
    third = frame.shape[1] // 3
    solver_panel, surrogate_panel, error_panel = (frame[:, k * third:(k + 1) * third] for k in range(3))
    assert np.abs(solver_panel - surrogate_panel).sum() > 0  # the runs differ...
    assert (np.abs(error_panel[..., 0] - error_panel[..., 2]) > 100).sum() > 100  # ...and the error shows reds/blues


def test_plot_errors_name_what_is_wrong(qs_dir, tmp_path):
    refused(plot(tmp_path / "nowhere"), ConfigError, "SOLVER: no such file or directory", "nowhere")
    refused(plot(qs_dir / "solver.nc", tmp_path / "missing.nc"), ConfigError, "SURROGATE: no such file", "missing.nc")
    refused(plot(qs_dir / "solver.nc"), ConfigError, "SURROGATE: give the surrogate's rollout too")
    refused(plot(tmp_path), ConfigError, "not a `walrus quickstart` output directory", "without solver.nc, hybrid.nc")
    refused(plot(qs_dir, "--field", "vorticity", "-o", tmp_path / "x.gif"), FieldError,
            "--field: unknown field", "received 'vorticity'", "'height', 'velocity_x', 'velocity_y'")
    refused(plot(qs_dir, "-o", tmp_path / "x.png"), ConfigError,
            "--out: unsupported animation format", "a file ending in .gif or .mp4", "suffix '.png'")
    refused(plot(qs_dir, "-o", tmp_path / "noext"), ConfigError, "--out: unsupported animation format", "no suffix")
    refused(plot(qs_dir, "-o", tmp_path / "x.gif", "--fps", "0"), ConfigError, "--fps: expected a number in (0, 100]")
    # a rollout without fields: the flags only
    empty = tmp_path / "flags.nc"
    open_dataset(qs_dir / "hybrid.nc")[["step_kind"]].walrus.to_netcdf(empty)
    refused(plot(qs_dir / "solver.nc", empty, "-o", tmp_path / "x.gif"), FieldError,
            "surrogate: the surrogate rollout holds no field to plot", "step_kind")
    assert not list(tmp_path.glob("*.gif")) and not list(tmp_path.glob(".*.tmp"))  # nothing half-written


def test_mp4_without_ffmpeg_names_the_fix(qs_dir, tmp_path, monkeypatch):
    import walrus.plot

    monkeypatch.setattr(walrus.plot, "find_ffmpeg", lambda: None)  # as on a machine with neither binary
    refused(plot(qs_dir, "-o", tmp_path / "x.mp4"), ConfigError, "MP4 output needs an ffmpeg binary",
            "pip install 'walrus-physics[video]'", "or a .gif path")


def test_mp4_with_ffmpeg(qs_dir, tmp_path):
    import imageio_ffmpeg  # the dev extra installs the video extra: a missing ffmpeg fails, not skips

    from walrus.plot import find_ffmpeg

    assert find_ffmpeg() is not None
    result = plot(qs_dir, "-o", tmp_path / "a.mp4", "--dpi", DPI, "--quiet")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "a.mp4").read_bytes()[4:8] == b"ftyp"  # an MP4 container
    assert imageio_ffmpeg.count_frames_and_secs(str(tmp_path / "a.mp4"))[0] == T
