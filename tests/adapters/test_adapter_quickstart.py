"""`walrus quickstart` end to end in its fast mode: real data, two 2-step fine-tunes (from a stand-in
for the shipped model and from random weights), held-out VRMSE, a hybrid run, files."""

import json
import math

import h5py
import numpy as np
import pytest
import torch
import xarray as xr

import walrus
from walrus.commands.quickstart import FAST, HELDOUT_SEED, MODELS, run
from walrus.errors import CheckpointError, ConfigError
from walrus.model.checkpoint import content_sha256, load_checkpoint, save_checkpoint


def _sha(model) -> str:
    return content_sha256({k: v.detach() for k, v in model.state_dict().items()})


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    """A stand-in for walrus/pretrained/walrus-mini.safetensors: walrus-mini weights stored in bfloat16."""
    path = tmp_path_factory.mktemp("init") / "walrus-mini.safetensors"
    torch.manual_seed(1234)
    return save_checkpoint(walrus.get_model("walrus-mini").to(torch.bfloat16), path, preset="walrus-mini")


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory, standin):
    out = tmp_path_factory.mktemp("quickstart")
    lines = []
    summary = run(out, seed=0, echo=lines.append, fast=True, init_from=standin)
    return out, summary, "\n".join(lines)


def test_quickstart_fast_writes_what_it_prints(quickstart):
    tmp_path, summary, text = quickstart
    for key in ("solver_nc", "hybrid_nc", "png", "gif"):
        path = summary["files"][key]
        assert path in text and (tmp_path / path.split("/")[-1]).stat().st_size > 0
    assert "VRMSE hybrid vs solver" in text and "wall time per simulated second" in text
    assert summary["steps"]["steps"] == FAST.rollout and summary["steps"]["surrogate"] + summary["steps"]["fallbacks"] >= 1
    assert set(summary["vrmse_final"]) == {"height", "velocity_x", "velocity_y"}
    assert all(np.isfinite(v) for v in summary["vrmse_final"].values())
    assert summary["seconds_per_simulated_second"]["solver"] > 0
    assert json.loads((tmp_path / "summary.json").read_text()) == json.loads(json.dumps(summary))
    # the hybrid run uses the model fine-tuned from the pretrained weights
    assert summary["checkpoint"] == summary["finetune"]["pretrained"]["model"] == str(tmp_path / "model.safetensors")
    # what stays: the two fine-tuned models and the training logs, no intermediate weights
    assert sorted(p.name for p in tmp_path.glob("**/*.safetensors")) == ["model.safetensors",
                                                                         "model_random_init.safetensors"]
    assert (tmp_path / "finetune_pretrained" / "log.jsonl").is_file()

    with xr.open_dataset(tmp_path / "hybrid.nc") as hybrid, xr.open_dataset(tmp_path / "solver.nc") as solver:
        assert hybrid["height"].attrs["units"] == "m" and hybrid["velocity"].attrs["units"] == "m s-1"
        assert hybrid["time"].attrs["units"] == "s" and hybrid["x"].attrs["units"] == "m"
        assert hybrid.sizes["time"] == FAST.rollout + 1 == solver.sizes["time"]
        assert hybrid.sizes["x"] == FAST.res
        kinds = hybrid["step_kind"].values
        assert kinds[:6].tolist() == [0] * 6 and kinds.sum() == summary["steps"]["surrogate"]
        # warm-up frames are the solver's own
        np.testing.assert_allclose(hybrid["height"].values[:6], solver["height"].values[:6])


def test_summary_reports_every_vrmse_next_to_the_timings(quickstart):
    _, summary, text = quickstart
    rows = summary["heldout_vrmse"]
    assert list(rows) == list(MODELS) == ["persistence", "zero_shot", "pretrained_finetuned", "random_init_finetuned"]
    for name, row in rows.items():
        assert len(row["per_step"]) == FAST.eval_rollout and all(math.isfinite(v) and v > 0 for v in row["per_step"])
        assert row["one_step"] == row["per_step"][0]
        assert row["rollout_mean"] == pytest.approx(np.mean(row["per_step"]))
        assert f"{MODELS[name]:<26} {row['one_step']:8.4f} / {row['rollout_mean']:.4f}" in text
    # the models are scored, not copied: each differs from the others and from persistence
    assert len({row["one_step"] for row in rows.values()}) == 4
    seconds = summary["seconds"]
    assert set(seconds) == {"generate", "finetune_pretrained", "finetune_random_init", "evaluate", "solver_run",
                            "hybrid_run", "total"}
    assert all(v > 0 for v in seconds.values()) and seconds["total"] > seconds["finetune_pretrained"]
    for run_name in ("pretrained", "random_init"):
        assert seconds[f"finetune_{run_name}"] == summary["finetune"][run_name]["seconds"]
        assert f"(fine-tune {seconds[f'finetune_{run_name}']:.0f} s)" in text
    assert f"done in {seconds['total']:.1f} s" in text and "hybrid run" in text.splitlines()[-1]
    held = summary["heldout"]
    assert held["seed"] == HELDOUT_SEED != summary["seed"] and held["rollout_steps"] == FAST.eval_rollout
    assert len(held["windows"]) == FAST.heldout_windows


def test_the_two_finetunes_share_a_recipe_and_start_from_different_weights(quickstart, standin):
    _, summary, _ = quickstart
    pre, rnd = summary["finetune"]["pretrained"], summary["finetune"]["random_init"]
    assert pre["recipe"] == rnd["recipe"]
    assert pre["init"] == str(standin) and rnd["init"].startswith("random weights")
    assert pre["recipe"]["preset"] == "walrus-mini" and pre["recipe"]["seed"] == 0
    assert pre["steps"] == rnd["steps"] == FAST.epochs * FAST.steps_per_epoch
    # the pretrained run starts from exactly the init file's weights (bfloat16 widened to float32) ...
    assert pre["init_weights_sha256"] == _sha(load_checkpoint(standin, dtype=torch.float32))
    # ... the other from walrus-mini's random weights under the run's seed
    torch.manual_seed(0)
    assert rnd["init_weights_sha256"] == _sha(walrus.get_model("walrus-mini"))
    assert pre["init_weights_sha256"] != rnd["init_weights_sha256"]
    # and both trained: the exported weights moved away from where they started
    for record in (pre, rnd):
        trained = load_checkpoint(record["model"], dtype=torch.float32)
        assert _sha(trained) != record["init_weights_sha256"]


def test_persistence_vrmse_equals_a_direct_computation(quickstart):
    """Copy the last input frame forward and score it with numpy, from the held-out files themselves."""
    _, summary, _ = quickstart
    held = summary["heldout"]
    history, steps = held["history"], held["rollout_steps"]
    per_window = []
    for path, traj, t0 in held["windows"]:
        with h5py.File(path, "r") as f:
            h = f["t0_fields/height"][traj, t0: t0 + history + steps]
            uv = f["t1_fields/velocity"][traj, t0: t0 + history + steps]
        frames = np.concatenate([h[..., None], uv], axis=-1).astype(np.float64)  # (T, x, y, 3)
        last, future = frames[history - 1], frames[history:]
        mse = ((future - last) ** 2).mean(axis=(1, 2))
        var = future.var(axis=(1, 2), ddof=1)
        per_window.append(np.sqrt(mse / (var + 1e-7)).mean(-1))  # (steps,): mean over the 3 channels
    expected = np.mean(per_window, axis=0)
    np.testing.assert_allclose(summary["heldout_vrmse"]["persistence"]["per_step"], expected, rtol=1e-4)


def test_a_bad_init_path_or_seed_is_refused_before_any_work(tmp_path):
    out = tmp_path / "qs"
    for init in (tmp_path / "missing.safetensors", tmp_path):
        with pytest.raises(ConfigError, match="--init-from: checkpoint not found") as info:
            run(out, fast=True, init_from=init)
        assert info.value.field == "--init-from" and str(init) in str(info.value)
    with pytest.raises(ConfigError, match="held-out") as info:
        run(out, seed=HELDOUT_SEED, fast=True)
    assert info.value.field == "--seed"
    assert not out.exists()


def test_the_default_start_is_the_shipped_model(tmp_path, monkeypatch):
    """Without init_from the quickstart fine-tunes the shipped file; where it is missing, it says so first."""
    from walrus.model import pretrained

    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", tmp_path / "empty")
    with pytest.raises(CheckpointError, match="shipped weights are missing"):
        run(tmp_path / "qs", fast=True)
    assert not (tmp_path / "qs").exists()
