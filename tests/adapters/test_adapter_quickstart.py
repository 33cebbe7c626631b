"""`walrus quickstart` end to end in its fast mode: real data, a 2-step training, a hybrid run, files."""

import json

import numpy as np
import xarray as xr

from walrus.commands.quickstart import FAST, run


def test_quickstart_fast_writes_what_it_prints(tmp_path):
    lines = []
    summary = run(tmp_path, seed=0, echo=lines.append, fast=True)
    text = "\n".join(lines)
    for key in ("solver_nc", "hybrid_nc", "png", "gif"):
        path = summary["files"][key]
        assert path in text and (tmp_path / path.split("/")[-1]).stat().st_size > 0
    assert "VRMSE hybrid vs solver" in text and "wall time per simulated second" in text
    assert summary["steps"]["steps"] == FAST.rollout and summary["steps"]["surrogate"] + summary["steps"]["fallbacks"] >= 1
    assert set(summary["vrmse_final"]) == {"height", "velocity_x", "velocity_y"}
    assert all(np.isfinite(v) for v in summary["vrmse_final"].values())
    assert summary["seconds_per_simulated_second"]["solver"] > 0
    assert json.loads((tmp_path / "summary.json").read_text())["plan"]["rollout"] == FAST.rollout

    with xr.open_dataset(tmp_path / "hybrid.nc") as hybrid, xr.open_dataset(tmp_path / "solver.nc") as solver:
        assert hybrid["height"].attrs["units"] == "m" and hybrid["velocity"].attrs["units"] == "m s-1"
        assert hybrid["time"].attrs["units"] == "s" and hybrid["x"].attrs["units"] == "m"
        assert hybrid.sizes["time"] == FAST.rollout + 1 == solver.sizes["time"]
        kinds = hybrid["step_kind"].values
        assert kinds[:6].tolist() == [0] * 6 and kinds.sum() == summary["steps"]["surrogate"]
        # warm-up frames are the solver's own
        np.testing.assert_allclose(hybrid["height"].values[:6], solver["height"].values[:6])
