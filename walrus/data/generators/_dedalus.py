"""Importing and stepping Dedalus quietly, serially, deterministically."""

from __future__ import annotations

import logging
import os
import sys
from typing import Callable

import numpy as np


def import_dedalus():
    """Import ``dedalus.public`` with one thread and without its stdout log handler.

    Dedalus adds an INFO handler to the root logger and lowers the root level to 0 on import,
    which would flood a host program's output; both are undone here.
    """
    if "dedalus.public" not in sys.modules:
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        root = logging.getLogger()
        level, handlers = root.level, list(root.handlers)
        import dedalus.public  # noqa: F401

        for h in list(root.handlers):
            if h not in handlers:
                root.removeHandler(h)
        root.setLevel(level)
    import dedalus.public as d3

    return d3


def run_frames(solver, fields: dict[str, Callable[[], np.ndarray]], n_frames: int, substeps: int,
               timestep: float, progress: Callable[[int], None]) -> dict[str, np.ndarray]:
    """Step ``solver`` ``substeps`` times between frames, reading each field by its getter."""
    frames = [{k: get() for k, get in fields.items()}]
    progress(1)
    for _ in range(n_frames - 1):
        for _ in range(substeps):
            solver.step(timestep)
        frames.append({k: get() for k, get in fields.items()})
        progress(1)
        if not all(np.isfinite(v).all() for v in frames[-1].values()):
            raise FloatingPointError(f"the Dedalus run blew up before t={solver.sim_time:.4g}; "
                                     f"use more resolution or fewer steps")
    return {k: np.stack([f[k] for f in frames]) for k in fields}


def reset_clock(solver) -> None:
    """Restart a built solver at t=0 for the next trajectory (RK steppers keep no history)."""
    solver.sim_time = solver.initial_sim_time = 0.0
    solver.iteration = solver.initial_iteration = 0


def grid_values(field) -> np.ndarray:
    """A copy of a Dedalus field on the output grid (scale 1), components last."""
    field.change_scales(1)
    data = np.array(field["g"], copy=True)
    rank = len(field.tensorsig)
    return np.moveaxis(data, list(range(rank)), list(range(data.ndim - rank, data.ndim))) if rank else data
