"""A windowed dataset over Well HDF5 files that reads only the slices a sample needs.

Samples have The Well's keys and layout (``input_fields`` (Ti, *space, C), ``output_fields``,
``constant_fields``, ``input_scalars``, ``output_scalars``, ``constant_scalars``,
``boundary_conditions`` (D, 2), ``space_grid``, ``input_time_grid``, ``output_time_grid``) and The
Well's window arithmetic, so they equal ``the_well.data.WellDataset``'s sample for sample.
Differences that are deliberate: files stay open (one handle per file per worker process) instead
of being reopened for every sample, and each read is a strided hyperslab of one trajectory.

Integrity: every file is validated when the dataset is built (schema, dtypes, masks, metadata;
no field data), and every slice a sample reads is checked for read errors and NaN/inf, so a damaged
file raises :class:`~walrus.errors.WellFormatError` naming the file and the dataset.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path
import h5py
import numpy as np
import torch
from torch.utils.data import Dataset

from walrus.errors import ShapeError, WellFormatError
from walrus.fields import component_suffixes
from walrus.io.schema import GROUPS
from walrus.io.well_check import (attr_bool, attr_names, attr_str, group_names, open_well, read_checked,
                                   validate)
from walrus.io.well_reader import effective_boundaries

__all__ = ["WellWindowDataset", "windows_per_trajectory", "max_stride"]


def windows_per_trajectory(n_steps: int, n_in: int, n_out: int, dt: int) -> int:
    """Start times a window of n_in + n_out frames, ``dt`` apart, can take: T - dt·(n_in + n_out - 1)."""
    return max(0, n_steps - dt * (n_in + n_out - 1))


def max_stride(t0: int, n_steps: int, n_in: int, n_out: int) -> int:
    """The largest stride a window starting at ``t0`` can use."""
    return max(0, (n_steps - t0 - 1) // (n_in + n_out - 1))


@dataclass(frozen=True)
class _FileInfo:
    path: str
    n_traj: int
    n_steps: int
    axes: tuple[str, ...]
    spatial: tuple[int, ...]
    dataset_name: str
    # (group, name, rank, sample_varying, time_varying, dim_varying)
    fields: tuple[tuple[str, str, int, bool, bool, tuple[bool, ...]], ...]
    scalars: tuple[tuple[str, bool, bool], ...]
    sample_varying_time: bool


def _scan(path: str) -> _FileInfo:
    with open_well(path) as f:
        validate(f, path)
        try:
            return _describe(f, path)
        except WellFormatError:
            raise
        except Exception as exc:  # damaged metadata that validate() could not foresee
            raise WellFormatError("unreadable Well file", field=path, expected="readable metadata",
                                  received=f"{type(exc).__name__}: {exc}") from exc


def _describe(f: h5py.File, path: str) -> _FileInfo:
    dims = f["dimensions"]
    axes = tuple(attr_names(dims.attrs["spatial_dims"]))
    fields = []
    for order, grp in enumerate(GROUPS):
        g = f[grp]
        for name in group_names(g):
            a = g[name].attrs
            fields.append((grp, name, order, attr_bool(a["sample_varying"]), attr_bool(a["time_varying"]),
                           tuple(bool(v) for v in np.atleast_1d(a["dim_varying"]))))
    sg = f["scalars"]
    scalars = tuple((n, attr_bool(sg[n].attrs.get("sample_varying", False)),
                     attr_bool(sg[n].attrs.get("time_varying", False))) for n in group_names(sg))
    return _FileInfo(path, int(f.attrs["n_trajectories"]), int(dims["time"].shape[-1]), axes,
                     tuple(int(dims[a].shape[-1]) for a in axes), attr_str(f.attrs["dataset_name"]), tuple(fields),
                     scalars, attr_bool(dims["time"].attrs["sample_varying"]))


class WellWindowDataset(Dataset):
    """Windows of ``n_steps_input`` + ``n_steps_output`` frames from every trajectory of a set of Well files.

    ``path`` is a file, a directory of ``*.hdf5``/``*.h5`` files, or a dataset root together with
    ``split`` (reads ``<root>/data/<split>``). The stride between frames is ``min_dt_stride``, or,
    when ``max_dt_stride`` is larger, drawn per sample uniformly from the strides that fit (numpy's
    global RNG, as The Well does, unless ``rng`` is given). ``full_trajectory_mode`` gives one
    sample per trajectory whose output is the rest of the shortest trajectory (capped by
    ``max_rollout_steps``).
    """

    def __init__(self, path, *, split: str | None = None, n_steps_input: int = 1, n_steps_output: int = 1,
                 min_dt_stride: int = 1, max_dt_stride: int = 1, full_trajectory_mode: bool = False,
                 max_rollout_steps: int = 100, return_grid: bool = True, normalize_time_grid: bool = True,
                 rng: np.random.Generator | None = None):
        if n_steps_input < 1 or n_steps_output < (0 if full_trajectory_mode else 1):
            raise ShapeError("invalid window", field="n_steps_input/n_steps_output", expected=">= 1 each",
                             received=(n_steps_input, n_steps_output))
        if not 1 <= min_dt_stride <= max_dt_stride:
            raise ShapeError("invalid stride range", field="dt_stride", expected="1 <= min_dt_stride <= max_dt_stride",
                             received=(min_dt_stride, max_dt_stride))
        if full_trajectory_mode and max_dt_stride != min_dt_stride:
            raise ShapeError("full-trajectory mode needs one stride", field="dt_stride",
                             expected="min_dt_stride == max_dt_stride", received=(min_dt_stride, max_dt_stride))
        root = Path(path)
        if split is not None:
            root = root / "data" / split
        if root.is_file():
            files = [str(root)]
        else:
            files = sorted(glob.glob(str(root / "*.hdf5")) + glob.glob(str(root / "*.h5")))
        if not files:
            raise WellFormatError("no Well files", field=str(root), expected="*.hdf5 or *.h5 files",
                                  received="none")
        self.files = [_scan(p) for p in files]
        first = self.files[0]
        for info in self.files[1:]:
            for what in ("dataset_name", "axes", "spatial"):
                if getattr(info, what) != getattr(first, what):
                    raise WellFormatError(f"files disagree on {what}", field=info.path,
                                          expected=getattr(first, what), received=getattr(info, what))
            if [f[1:] for f in info.fields] != [f[1:] for f in first.fields]:
                raise WellFormatError("files disagree on their fields", field=info.path,
                                      expected=[f[1] for f in first.fields], received=[f[1] for f in info.fields])
        self.n_steps_input, self.min_dt_stride, self.max_dt_stride = n_steps_input, min_dt_stride, max_dt_stride
        self.full_trajectory_mode = full_trajectory_mode
        self.return_grid, self.normalize_time_grid = return_grid, normalize_time_grid
        self.rng = rng
        if full_trajectory_mode:
            shortest = min(i.n_steps for i in self.files)
            n_steps_output = (shortest - n_steps_input * min_dt_stride) // min_dt_stride
            if n_steps_output < 1:
                raise ShapeError("trajectories too short for full-trajectory mode", field=first.dataset_name,
                                 expected=f"> {n_steps_input * min_dt_stride} steps", received=shortest)
            self._windows = [1] * len(self.files)
        else:
            self._windows = [windows_per_trajectory(i.n_steps, n_steps_input, n_steps_output, min_dt_stride)
                             for i in self.files]
            for info, w in zip(self.files, self._windows):
                if w < 1:
                    raise ShapeError("trajectory too short for the window", field=info.path,
                                     expected=f">= {1 + min_dt_stride * (n_steps_input + n_steps_output - 1)} steps",
                                     received=info.n_steps)
        self.n_steps_output = n_steps_output
        self._output_steps = min(n_steps_output, max_rollout_steps)
        self._offsets = np.cumsum([0] + [i.n_traj * w for i, w in zip(self.files, self._windows)])
        self._handles: dict[int, h5py.File] = {}
        self._pid = os.getpid()
        self._static: dict[int, dict] = {}

    # -------------------------------------------------------------- metadata
    @property
    def n_spatial_dims(self) -> int:
        return len(self.files[0].axes)

    @property
    def field_names(self) -> list[str]:
        """Channel names of ``input_fields`` in order (The Well's flattening)."""
        return self._channel_names(time_varying=True)

    @property
    def constant_field_names(self) -> list[str]:
        return self._channel_names(time_varying=False)

    def _channel_names(self, time_varying: bool) -> list[str]:
        axes = self.files[0].axes
        return [f"{name}_{s}" if s else name for (_, name, r, _, tv, _) in self.files[0].fields if tv == time_varying
                for s in component_suffixes(r, axes)]

    def __len__(self) -> int:
        return int(self._offsets[-1])

    # -------------------------------------------------------------- reading
    def _file(self, i: int) -> h5py.File:
        if os.getpid() != self._pid:  # forked worker: never share HDF5 handles across processes
            self._handles, self._pid = {}, os.getpid()
        f = self._handles.get(i)
        if f is None:
            f = self._handles[i] = open_well(self.files[i].path)
        return f

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_handles"] = {}
        return state

    def close(self) -> None:
        for f in self._handles.values():
            f.close()
        self._handles = {}

    def _static_parts(self, i: int) -> dict:
        """Per-file data that no sample index changes: shared constants, grid, boundary codes."""
        if i not in self._static:
            f, info = self._file(i), self.files[i]
            try:
                bcs = effective_boundaries(f)
            except Exception as exc:
                raise WellFormatError("unreadable boundary masks", field=info.path, expected="readable masks",
                                      received=f"{type(exc).__name__}: {exc}") from exc
            out = {"bcs": torch.tensor([list(c) for c in bcs.values()], dtype=torch.float32)}
            if not info.sample_varying_time:
                out["time"] = torch.as_tensor(read_checked(f["dimensions"]["time"], info.path))
            arrays = [read_checked(f["dimensions"][a], info.path) for a in info.axes]
            common = np.result_type(*arrays)  # coordinates stored with different dtypes share one
            common = common if common.kind == "f" else np.dtype(np.float64)
            coords = [torch.as_tensor(a.astype(common, copy=False)) for a in arrays]
            out["space_grid"] = torch.stack(torch.meshgrid(*coords, indexing="ij"), -1)
            out["fields"] = {name: read_checked(f[grp][name], info.path)
                             for grp, name, _, sv, tv, _ in info.fields if not sv and not tv}
            out["scalars"] = {name: read_checked(f["scalars"][name], info.path) for name, sv, tv in info.scalars
                              if not sv and not tv}
            self._static[i] = out
        return self._static[i]

    def _tile(self, x: np.ndarray, info: _FileInfo, dim_varying, lead: int, rank: int) -> np.ndarray:
        if all(dim_varying):
            return x
        shape = list(x.shape[:lead])
        k = lead
        for n, v in zip(info.spatial, dim_varying):
            shape.append(x.shape[k] if v else 1)
            k += int(v)
        x = x.reshape(shape + list(x.shape[k:]))
        reps = [1] * lead + [1 if v else n for n, v in zip(info.spatial, dim_varying)] + [1] * rank
        return np.tile(x, reps)

    def locate(self, index: int) -> tuple[int, int, int]:
        """(file, trajectory, first time index) of sample ``index``."""
        if not 0 <= index < len(self):
            raise IndexError(f"sample index {index} out of range for {len(self)} samples")
        i = int(np.searchsorted(self._offsets, index, side="right") - 1)
        local = index - int(self._offsets[i])
        return i, local // self._windows[i], local % self._windows[i]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        i, traj, t0 = self.locate(int(index))
        info, f, static = self.files[i], self._file(i), self._static_parts(i)
        n_in, n_out = self.n_steps_input, self._output_steps
        dt = self.min_dt_stride
        if self.max_dt_stride > self.min_dt_stride:
            hi = min(max_stride(t0, info.n_steps, n_in, self.n_steps_output), self.max_dt_stride)
            if hi > dt:
                dt = int(np.random.randint(dt, hi + 1) if self.rng is None else self.rng.integers(dt, hi + 1))
        n = n_in + n_out
        window = slice(t0, t0 + n * dt, dt)
        variable, constant = [], []
        for grp, name, rank, sv, tv, dv in info.fields:
            if not sv and not tv:
                x = static["fields"][name]
            else:
                key = ((traj,) if sv else ()) + ((window,) if tv else ())
                x = read_checked(f[grp][name], info.path, key)
            x = self._tile(x, info, dv, 1 if tv else 0, rank)
            x = x.reshape(x.shape[: x.ndim - rank] + (-1,)) if rank else x[..., None]
            (variable if tv else constant).append(x)
        var_s, const_s = [], []
        for name, sv, tv in info.scalars:
            if not sv and not tv:
                x = static["scalars"][name]
            else:
                key = ((traj,) if sv else ()) + ((window,) if tv else ())
                x = read_checked(f["scalars"][name], info.path, key)
            (var_s if tv else const_s).append(np.asarray(x)[..., None])
        # numpy concatenates channels-last arrays an order of magnitude faster than torch.cat on CPU
        fields = torch.from_numpy(np.concatenate(variable, -1))
        sample = {"input_fields": fields[:n_in], "output_fields": fields[n_in:]}
        if constant:
            sample["constant_fields"] = torch.from_numpy(np.concatenate(constant, -1))
        if var_s:
            s = torch.from_numpy(np.concatenate(var_s, -1))
            sample["input_scalars"], sample["output_scalars"] = s[:n_in], s[n_in:]
        if const_s:
            sample["constant_scalars"] = torch.from_numpy(np.concatenate(const_s, -1))
        sample["boundary_conditions"] = static["bcs"]
        if self.return_grid:
            sample["space_grid"] = static["space_grid"]
            if info.sample_varying_time:
                time = torch.as_tensor(read_checked(f["dimensions"]["time"], info.path, (traj, window)))
            else:
                time = static["time"][window]
            if self.normalize_time_grid:
                time = time - time.min()
            sample["input_time_grid"], sample["output_time_grid"] = time[:n_in], time[n_in:]
        return {k: v for k, v in sample.items() if v.numel() > 0}
