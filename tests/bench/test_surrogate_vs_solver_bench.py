"""bench/surrogate_vs_solver.py: a tiny end-to-end run, the fine-tune cache, and the crossover logic."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

import walrus
from walrus.model.checkpoint import save_checkpoint

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import surrogate_vs_solver as svs  # noqa: E402


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("svs")
    save_checkpoint(walrus.get_model("walrus-tiny"), root / "tiny.safetensors", preset="walrus-tiny")
    argv = ["--codes", "pypde_diffusion", "--res", "16", "32", "--repeats", "1", "--horizons", "1", "2",
            "--checkpoint", str(root / "tiny.safetensors"), "--out", str(root / "r.json"),
            "--plot", str(root / "r.png"), "--quiet"]
    svs.main(argv)
    return root, json.loads((root / "r.json").read_text())


def test_results_have_every_run_warmup_and_persistence(tiny_run):
    root, result = tiny_run
    assert result["benchmark"] == "surrogate_vs_solver" and result["repeats"] == 1
    assert "surrogate_vs_solver" in result["command"] and result["machine"]["threads"] >= 1
    assert [r["res"] for r in result["results"]] == [16, 32]
    for row in result["results"]:
        assert row["steps"] == row["warmup_steps"] + 2
        assert row["untimed_warmup"]["surrogate_calls"] >= 1  # the model's first call is outside the timings
        for name in ("solver", "hybrid", "surrogate", "persistence"):
            assert len(row[name]["seconds"]) == 1 and row[name]["seconds_per_time_unit"] > 0
        for name in ("hybrid", "surrogate", "persistence"):
            assert np.isfinite(row[name]["vrmse_step1"]) and np.isfinite(row[name]["vrmse_step2"])
        # diffusion changes the field: copying the last warm-up frame forward is not the solver's answer
        assert row["persistence"]["vrmse_step2"] > row["persistence"]["vrmse_step1"] > 0
        assert row["persistence"]["surrogate_steps"] == 2 and row["surrogate"]["surrogate_steps"] == 2
    assert result["summary"]["pypde_diffusion"]["crossover"]["kind"] in ("measured", "below_sweep", "extrapolated",
                                                                         "none")
    assert (root / "r.png").read_bytes()[:4] == b"\x89PNG"


def test_crossover_measured_inside_the_sweep():
    n = np.array([8, 16, 32, 64, 128])
    solver, hybrid = 1e-6 * n ** 3.0, 1e-3 * n ** 1.0  # equal where N^2 = 1000
    out = svs.crossover(n, solver, hybrid)
    assert out["kind"] == "measured" and out["resolution"] == pytest.approx(1000 ** 0.5, rel=1e-9)


def test_crossover_extrapolated_from_the_fitted_powers():
    n = np.array([4, 8, 16])
    out = svs.crossover(n, 1e-6 * n ** 3.0, 1e-3 * n ** 1.0)
    assert out["kind"] == "extrapolated" and out["resolution"] == pytest.approx(1000 ** 0.5, rel=1e-9)
    assert out["fits"]["solver"]["p"] == pytest.approx(3.0) and out["fits"]["hybrid"]["a"] == pytest.approx(1e-3)


def test_crossover_below_the_sweep_and_never():
    n = np.array([32, 64, 128])
    assert svs.crossover(n, 2e-6 * n ** 3, 1e-6 * n ** 3)["kind"] == "below_sweep"
    never = svs.crossover(n, 1e-6 * n ** 2, 1e-3 * n ** 2)
    assert never["kind"] == "none" and never["resolution"] is None


def test_finetune_is_cached_and_trains_on_other_initial_conditions(tmp_path):
    code = svs._codes()["pypde_diffusion"]
    plan = svs.FinetunePlan(resolutions=(16,), n_traj=3, frames=8, epochs=1, steps_per_epoch=1, batch=2)
    path, record = svs.finetuned(code, plan, 0, tmp_path, quiet=True)
    assert path.is_file() and not record["cached"] and record["steps"] == 1
    again, cached = svs.finetuned(code, plan, 0, tmp_path, quiet=True)
    assert again == path and cached["cached"]
    # the evaluation initial condition is none of the training ones
    h = svs.Persistence(6)
    first = [code.build(16, svs.code_rng(0, svs.TRAIN_STREAM, k), h, None, False).coupling.read()["concentration"]
             for k in range(plan.n_traj)]
    evaluation = code.build(16, svs.code_rng(0, svs.EVAL_STREAM), h, None, False).coupling.read()["concentration"]
    assert all(not np.allclose(f, evaluation) for f in first)
