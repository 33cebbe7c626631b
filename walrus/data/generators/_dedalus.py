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


def run_frames(solver, fields: dict[str, Callable[[], np.ndarray]], times: np.ndarray,
               next_step: Callable[[], float], progress: Callable[[int], None]) -> dict[str, np.ndarray]:
    """Step ``solver`` to each output time, reading each field by its getter at every frame.

    ``next_step()`` proposes a timestep (a Dedalus CFL's ``compute_timestep``); the last step before
    a frame is shortened to land on it exactly, which RK steppers (no history) allow.
    """
    frames = [{k: get() for k, get in fields.items()}]
    progress(1)
    for t_out in times[1:]:
        while t_out - solver.sim_time > 1e-12 * max(1.0, abs(t_out)):
            step = next_step()
            if not step > 1e-9:  # NaN velocities give a zero CFL step: stop instead of looping forever
                raise FloatingPointError(f"the Dedalus run blew up near t={solver.sim_time:.4g} "
                                         f"(timestep {step!r}); use more resolution or fewer steps")
            solver.step(min(step, t_out - solver.sim_time))
        frames.append({k: get() for k, get in fields.items()})
        progress(1)
        if not all(np.isfinite(v).all() for v in frames[-1].values()):
            raise FloatingPointError(f"the Dedalus run blew up before t={solver.sim_time:.4g}; "
                                     f"use more resolution or fewer steps")
    return {k: np.stack([f[k] for f in frames]) for k in fields}


def cfl_stepper(d3, solver, velocities, res: int, safety: float = 0.4, max_dt: float = 0.05):
    """A deterministic adaptive timestep from the advective (and Alfven) CFL condition."""
    cfl = d3.CFL(solver, initial_dt=0.1 / res, cadence=1, safety=safety, max_dt=max_dt,
                 max_change=1.5, threshold=0.05)
    for v in velocities:
        cfl.add_velocity(v)
    return cfl.compute_timestep


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


def curl_of_streamfunction(d3, dist, bases, psi: np.ndarray) -> np.ndarray:
    """(d psi/dy, -d psi/dx) computed spectrally, so its discrete divergence is zero to round-off."""
    field = dist.Field(name="psi", bases=bases)
    field.change_scales(1)
    field["g"] = psi
    vec = (-d3.skew(d3.grad(field))).evaluate()
    vec.change_scales(1)
    return np.array(vec["g"], copy=True)
