"""Animations of a rollout: solver | surrogate | error side by side, one row per field, as GIF or MP4.

Input is two walrus-layout Datasets over the same times (``walrus quickstart`` writes them as
``solver.nc`` and ``hybrid.nc``). Solver and surrogate of a field share one colour scale over
all frames, so a drift shows as a change of colour; the error panel (surrogate - solver) uses a
diverging map with limits symmetric about zero. Vector fields are shown by component
(``velocity_x``, ``velocity_y``); 3-D fields by their middle slice along the last axis.

GIFs are written with matplotlib's Pillow writer (pillow comes with matplotlib). MP4 needs an
ffmpeg binary: one on PATH, or the one the ``imageio-ffmpeg`` wheel ships
(``pip install 'walrus-physics[video]'``). Files are written atomically.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from walrus.atomic import atomic_path
from walrus.errors import ConfigError, FieldError, ShapeError

__all__ = ["SUFFIXES", "DEFAULT_MAX_FIELDS", "QUICKSTART_FILES", "Animation", "plottable_fields", "default_fields",
           "figure_size", "find_ffmpeg", "load_rollouts", "animate_rollout"]

#: output formats by file suffix
SUFFIXES = (".gif", ".mp4")
#: rows drawn when no field is chosen: the scalar fields, at most this many
DEFAULT_MAX_FIELDS = 4
#: what `walrus quickstart` writes: (solver run, run with the surrogate swapped in)
QUICKSTART_FILES = ("solver.nc", "hybrid.nc")
#: inches per panel (width, height); a colour bar sits beside each panel
PANEL_INCHES = (3.4, 2.8)
COLUMNS = ("solver", "surrogate", "surrogate - solver")

TIME_DIM = "time"
COMPONENT_DIMS = ("component_i", "component_j")


@dataclass(frozen=True)
class Animation:
    """What :func:`animate_rollout` wrote: the file, the fields (one row each), the frame count, the
    frame size and each field's colour limits: ``{"value": (lo, hi), "error": (-e, e)}``."""

    path: Path
    fields: tuple[str, ...]
    n_frames: int
    size_pixels: tuple[int, int]
    limits: dict


def _spatial_dims(ds) -> list[str]:
    named = str(ds.attrs.get("spatial_dims", "")).split()
    if named:
        return named
    skip = {TIME_DIM, "sample", *COMPONENT_DIMS}
    return [str(d) for d in ds.dims if d not in skip]


def plottable_fields(ds) -> dict:
    """``{name: DataArray (time, a, b)}`` of every time-dependent field of ``ds``.

    Vector and tensor fields are split by component, named ``<field>_<axis>`` after the component
    coordinate (``velocity_x``); 3-D fields are cut at the middle of their last axis.
    """
    axes = _spatial_dims(ds)
    out = {}
    for name, da in ds.data_vars.items():
        if TIME_DIM not in da.dims or not set(axes) & set(da.dims) or da.dtype.kind not in "fiu":
            continue  # constants, per-frame flags (step_kind), text
        if "sample" in da.dims:
            da = da.isel(sample=0)
        space = [d for d in da.dims if d in axes]
        if len(space) == 3:
            middle = da.sizes[space[2]] // 2
            da = da.isel({space[2]: middle}).assign_attrs(da.attrs, slice=f"{space[2]}[{middle}]")
            space = space[:2]
        if len(space) != 2:
            continue
        comps = [d for d in da.dims if d in COMPONENT_DIMS]
        if not comps:
            out[str(name)] = da.transpose(TIME_DIM, *space)
            continue
        labels = [[str(v) for v in (da[c].values if c in da.coords else range(da.sizes[c]))] for c in comps]
        for index in np.ndindex(*[da.sizes[c] for c in comps]):
            suffix = "".join(labels[k][i] for k, i in enumerate(index))
            part = da.isel({c: i for c, i in zip(comps, index)})
            out[f"{name}_{suffix}"] = part.transpose(TIME_DIM, *space).assign_attrs(da.attrs)
    return out


def default_fields(available: Sequence[str], ds) -> list[str]:
    """The scalar fields (no component split), at most DEFAULT_MAX_FIELDS; else the first components."""
    scalars = [n for n in available if n in ds.data_vars]
    return (scalars or list(available))[:DEFAULT_MAX_FIELDS]


def figure_size(n_fields: int) -> tuple[float, float]:
    """Figure size in inches for ``n_fields`` rows of the three panels."""
    return PANEL_INCHES[0] * len(COLUMNS), PANEL_INCHES[1] * n_fields + 0.5


def find_ffmpeg() -> str | None:
    """The ffmpeg binary matplotlib will use: the configured/PATH one, else imageio-ffmpeg's; None if neither."""
    import matplotlib

    found = shutil.which(matplotlib.rcParams["animation.ffmpeg_path"])
    if found:
        return found
    try:
        import imageio_ffmpeg
    except ImportError:
        return None
    try:
        return imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError:  # the wheel lacks a binary for this platform
        return None


def check_output(path: Path) -> str | None:
    """Check ``path``'s suffix; for MP4 return the ffmpeg binary (a ConfigError naming the fix if none)."""
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIXES:
        raise ConfigError("unsupported animation format", field="--out", expected=f"a file ending in {' or '.join(SUFFIXES)}",
                          received=f"{path} (suffix {suffix!r})" if suffix else f"{path} (no suffix)")
    if Path(path).is_dir():
        raise ConfigError("--out is a directory", field="--out", expected="a .gif or .mp4 file path", received=str(path))
    if suffix == ".mp4":
        exe = find_ffmpeg()
        if exe is None:
            raise ConfigError("MP4 output needs an ffmpeg binary, and none was found", field="--out",
                              expected="ffmpeg on PATH, or `pip install 'walrus-physics[video]'` (imageio-ffmpeg "
                                       "ships one), or a .gif path (needs nothing extra)",
                              received=str(path))
        return exe
    return None


def load_rollouts(solver, surrogate=None):
    """``(solver Dataset, surrogate Dataset)`` from a quickstart directory, or from two netCDF/Well files."""
    from walrus.io.xr import open_dataset

    solver = Path(solver)
    if surrogate is None:
        if not solver.is_dir():
            if not solver.exists():
                raise ConfigError("no such file or directory", field="SOLVER",
                                  expected=f"a `walrus quickstart` directory (with {' and '.join(QUICKSTART_FILES)}) "
                                           "or a solver rollout file followed by the surrogate's",
                                  received=str(solver))
            raise ConfigError("give the surrogate's rollout too", field="SURROGATE",
                              expected=f"a second netCDF file, or a directory holding {' and '.join(QUICKSTART_FILES)}",
                              received=f"only {solver}")
        missing = [n for n in QUICKSTART_FILES if not (solver / n).is_file()]
        if missing:
            raise ConfigError("not a `walrus quickstart` output directory", field="SOLVER",
                              expected=f"a directory holding {' and '.join(QUICKSTART_FILES)}",
                              received=f"{solver} without {', '.join(missing)}")
        solver, surrogate = solver / QUICKSTART_FILES[0], solver / QUICKSTART_FILES[1]
    surrogate = Path(surrogate)
    for label, path in (("SOLVER", solver), ("SURROGATE", surrogate)):
        if not path.is_file():
            raise ConfigError("no such file", field=label, expected="an existing netCDF or Well file of a rollout",
                              received=str(path))
    return open_dataset(solver), open_dataset(surrogate)


def _select(ds_solver, ds_surrogate, fields: Sequence[str] | None) -> tuple[list[str], dict, dict]:
    solver, surrogate = plottable_fields(ds_solver), plottable_fields(ds_surrogate)
    for label, found, ds in (("solver", solver, ds_solver), ("surrogate", surrogate, ds_surrogate)):
        if not found:
            raise FieldError(f"the {label} rollout holds no field to plot", field=label,
                             expected="variables over (time, and 2 or 3 spatial dims)",
                             received=f"variables {sorted(map(str, ds.data_vars))} over dims {dict(ds.sizes)}")
    common = [n for n in solver if n in surrogate]
    if not common:
        raise FieldError("the solver and surrogate rollouts share no field", field="fields",
                         expected=f"a field in both; solver has {sorted(solver)}", received=f"surrogate has {sorted(surrogate)}")
    if fields is None or len(fields) == 0:
        chosen = default_fields(common, ds_solver)
    else:
        chosen = []
        for name in fields:
            if name not in common:
                raise FieldError("unknown field", field="--field", expected=f"one of {common}", received=repr(name))
            if name not in chosen:
                chosen.append(name)
    for name in chosen:
        a, b = solver[name], surrogate[name]
        if a.shape != b.shape:
            raise ShapeError("solver and surrogate rollouts differ in shape", field=name,
                             expected=f"{dict(a.sizes)} (the solver's)", received=f"{dict(b.sizes)} (the surrogate's)")
    return chosen, solver, surrogate


def _label(da, name: str) -> str:
    units = da.attrs.get("units")
    label = f"{name} [{units}]" if units not in (None, "", "1") else name
    return f"{label} at {da.attrs['slice']}" if "slice" in da.attrs else label


def animate_rollout(ds_solver, ds_surrogate, path, fields: Sequence[str] | None = None, *, fps: float = 4,
                    dpi: int = 80, progress: bool = False) -> Animation:
    """Write an animation of the two rollouts to ``path`` (.gif, or .mp4 with ffmpeg), one frame per time.

    ``fields`` are names from :func:`plottable_fields` (default: the scalar fields, at most
    DEFAULT_MAX_FIELDS). A ``step_kind`` flag variable on the surrogate's rollout (as `walrus
    quickstart` writes) is shown in the title of each frame. ``progress`` shows a bar over frames.
    """
    path = Path(path)
    ffmpeg = check_output(path)
    if not (isinstance(fps, (int, float)) and not isinstance(fps, bool) and 0 < fps <= 100):
        raise ConfigError(field="--fps", expected="a number in (0, 100]", received=repr(fps))
    if isinstance(dpi, bool) or not isinstance(dpi, int) or not 10 <= dpi <= 600:
        raise ConfigError(field="--dpi", expected="an integer in [10, 600]", received=repr(dpi))
    names, solver, surrogate = _select(ds_solver, ds_surrogate, fields)
    n_frames = solver[names[0]].sizes[TIME_DIM]
    times = np.asarray(ds_solver[TIME_DIM].values, dtype=float) if TIME_DIM in ds_solver.coords else np.arange(n_frames)
    time_units = ds_solver[TIME_DIM].attrs.get("units", "") if TIME_DIM in ds_solver.coords else ""
    kinds = _step_kinds(ds_surrogate, n_frames)

    import matplotlib
    from matplotlib.animation import FFMpegWriter, FuncAnimation, PillowWriter
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    # a Figure of its own on an Agg canvas: pyplot's state and the caller's backend (a notebook's) stay as they are
    fig = Figure(figsize=figure_size(len(names)), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(names), len(COLUMNS), squeeze=False)
    images, limits = [], {}
    for row, name in enumerate(names):
        a = np.asarray(solver[name].values, dtype=float)
        b = np.asarray(surrogate[name].values, dtype=float)
        values = np.concatenate([a.ravel(), b.ravel()])
        values = values[np.isfinite(values)]  # a diverged surrogate's inf/NaN must not blank the scale
        lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
        if hi <= lo:
            lo, hi = lo - 0.5, hi + 0.5
        diff = np.abs(b - a)[np.isfinite(b - a)]
        err = float(diff.max()) if diff.size and diff.max() > 0 else 1e-12
        limits[name] = {"value": (lo, hi), "error": (-err, err)}
        label = _label(solver[name], name)
        row_images = []
        for col, (title, data, kw) in enumerate(((COLUMNS[0], a, dict(vmin=lo, vmax=hi, cmap="viridis")),
                                                 (COLUMNS[1], b, dict(vmin=lo, vmax=hi, cmap="viridis")),
                                                 (COLUMNS[2], b - a, dict(vmin=-err, vmax=err, cmap="RdBu_r")))):
            ax = axes[row, col]
            im = ax.imshow(data[0].T, origin="lower", **kw)
            ax.set_title(f"{label}: {title}", fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
            fig.colorbar(im, ax=ax, shrink=0.85).ax.tick_params(labelsize=7)
            row_images.append((im, data))
        images.append(row_images)
    suptitle = fig.suptitle("t = 0")
    fig.canvas.draw()
    fig.set_layout_engine("none")  # keep the first frame's layout: re-solving it per frame costs most of the time

    def draw(i):
        for row_images in images:
            for im, data in row_images:
                im.set_data(data[i].T)
        when = f"t = {times[i]:.4g} {time_units}".rstrip()
        suptitle.set_text(when if kinds is None else f"{when} (surrogate frame from: {kinds[i]})")
        return [im for row_images in images for im, _ in row_images]

    from tqdm.auto import tqdm

    width, height = figure_size(len(names))
    bar = tqdm(total=n_frames, desc="plot", unit="frame", disable=not progress, dynamic_ncols=True)
    try:
        with tempfile.TemporaryDirectory(prefix="walrus-plot-") as staging:
            # the writers pick the format from the suffix: render under the real suffix, then move in atomically
            staged = Path(staging) / f"animation{path.suffix.lower()}"
            writer = PillowWriter(fps=fps) if ffmpeg is None else FFMpegWriter(fps=fps)
            with matplotlib.rc_context({} if ffmpeg is None else {"animation.ffmpeg_path": ffmpeg}):
                FuncAnimation(fig, draw, frames=n_frames, blit=False).save(
                    staged, writer=writer, dpi=dpi, progress_callback=lambda i, n: bar.update(1))
            with atomic_path(path) as tmp:
                shutil.copyfile(staged, tmp)
    finally:
        bar.close()
    return Animation(path=path, fields=tuple(names), n_frames=n_frames,
                     size_pixels=(int(round(width * dpi)), int(round(height * dpi))), limits=limits)


def _step_kinds(ds, n_frames: int) -> list[str] | None:
    """Per-frame labels from a CF flag variable ``step_kind`` (0 solver, 1 surrogate), if present."""
    if "step_kind" not in ds.data_vars or ds["step_kind"].dims != (TIME_DIM,) or ds.sizes[TIME_DIM] != n_frames:
        return None
    meanings = str(ds["step_kind"].attrs.get("flag_meanings", "solver surrogate")).split()
    values = list(np.asarray(ds["step_kind"].attrs.get("flag_values", range(len(meanings)))).tolist())
    lookup = dict(zip(values, meanings))
    flags = np.asarray(ds["step_kind"].values).tolist()
    return ["initial" if i == 0 else lookup.get(f, str(f)) for i, f in enumerate(flags)]

