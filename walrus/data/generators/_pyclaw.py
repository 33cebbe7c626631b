"""Running PyClaw quietly, frame by frame."""

from __future__ import annotations

import logging
import sys
from typing import Callable
from unittest import mock

import numpy as np


def import_pyclaw():
    """Import ``clawpack.pyclaw`` without its logging setup, which writes ``pyclaw.log`` into the cwd
    and reconfigures the root logger of the host program."""
    if "clawpack.pyclaw" not in sys.modules:
        with mock.patch("logging.config.fileConfig"):
            from clawpack import pyclaw  # noqa: F401
        logging.getLogger("pyclaw").setLevel(logging.WARNING)
    from clawpack import pyclaw, riemann

    return pyclaw, riemann


def evolve_frames(solver, solution, times: np.ndarray, read: Callable[[object], dict],
                  progress: Callable[[int], None]) -> dict[str, np.ndarray]:
    """Advance ``solution`` through ``times`` (times[0] is the initial state) and stack ``read(state)``."""
    solver.verbosity = 0
    frames = [read(solution.state)]
    progress(1)
    for t in times[1:]:
        solver.evolve_to_time(solution, float(t))
        frames.append(read(solution.state))
        progress(1)
    return {k: np.stack([f[k] for f in frames]) for k in frames[0]}
