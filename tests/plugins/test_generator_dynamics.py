"""Generated systems keep moving over the frames a model is scored on.

A trajectory that settles (a uniform field, a frozen pattern, a flow decayed to its laminar state)
makes persistence exact and divides VRMSE by a vanishing standard deviation, so its late windows
measure nothing. Gray-Scott at The Well's diffusivities and Oldroyd-B at Re 1-10 (forcing mode 1,
or 2 at low Re) did exactly that at 32^2; these tests run both at the corpus's resolution and
length and fail if it comes back.
"""

from __future__ import annotations

import numpy as np
import pytest

from walrus.data.generators.gray_scott import DIFFUSIVITY_A, DT_OUT, timestep
from walrus.plugins import get_registry

HISTORY = 6  # frames before the first scored window (the 2-D history)
MIN_CHANGE = 0.01  # one-step change RMS / spatial standard deviation of the next frame
MIN_SPREAD = 0.02  # spatial standard deviation / its largest value along the trajectory


def _activity(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n_traj, T, X, Y[, comp]) -> the change ratio (n_traj, T-1) and the spread ratio (n_traj, T)."""
    n, t = values.shape[:2]
    flat = values.reshape(n, t, -1)
    std = flat.std(axis=2)
    change = np.sqrt((np.diff(flat, axis=1) ** 2).mean(axis=2))
    return change / np.maximum(std[:, 1:], 1e-300), std / std.max(axis=1, keepdims=True)


@pytest.mark.parametrize("name", ["gray_scott_pypde", "oldroyd_b_kolmogorov_dedalus"])
def test_generated_fields_keep_changing_over_forty_frames_at_32(name):
    data = get_registry().dataset(name).generator(n_traj=2, res=32, steps=40, seed=5)
    for field, values in data.fields.items():
        change, spread = _activity(np.asarray(values, dtype=np.float64))
        assert change[:, HISTORY - 1:].min() > MIN_CHANGE, (name, field, change[:, HISTORY - 1:].min(axis=1))
        assert spread[:, HISTORY:].min() > MIN_SPREAD, (name, field, spread[:, HISTORY:].min(axis=1))


def test_activity_flags_a_settled_trajectory():
    """The measure itself: a field that stops changing, or decays to uniform, is caught."""
    rng = np.random.default_rng(0)
    moving = rng.standard_normal((1, 40, 8, 8)).cumsum(axis=1)
    frozen = np.concatenate([moving[:, :10], np.repeat(moving[:, 9:10], 30, axis=1)], axis=1)
    decaying = moving * np.exp(-np.arange(40))[None, :, None, None]
    assert _activity(moving)[0].min() > MIN_CHANGE and _activity(moving)[1][:, HISTORY:].min() > MIN_SPREAD
    assert _activity(frozen)[0][:, HISTORY - 1:].min() < MIN_CHANGE
    assert _activity(decaying)[1][:, HISTORY:].min() < MIN_SPREAD


@pytest.mark.parametrize("res", [8, 32, 64, 128, 256])
def test_gray_scott_timestep_is_stable_and_divides_the_frame_interval(res):
    dt = timestep(res)
    dx = 2.0 / res
    assert DIFFUSIVITY_A * dt / dx ** 2 <= 0.2 + 1e-12  # explicit Euler, 5-point Laplacian: stable below 0.25
    assert dt <= 1.0
    assert abs(DT_OUT / dt - round(DT_OUT / dt)) < 1e-9
