"""The pretrained model shipped in the package: loads offline, is the model the card describes, and
knows some physics (beats persistence on a fresh held-out sample)."""

import re
import shutil
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

import walrus
from walrus.errors import ArgumentError, CheckpointError
from walrus.model import pretrained
from walrus.model.pretrained import DEFAULT_PRETRAINED, SHIPPED, weights_sha256, shipped_path

CARD = Path(__file__).resolve().parents[2] / "docs" / "model_card.md"
#: a generator seed used by no training corpus (pretraining used 0 and 1; bench/accuracy.py another)
SAMPLE_SEED = 777


def test_the_shipped_file_is_the_one_the_card_describes():
    path = shipped_path()
    assert path.stat().st_size <= 25 * 2 ** 20
    card = CARD.read_text()
    checksums = re.findall(r"sha256: `([0-9a-f]{64})`", card)
    assert checksums, "docs/model_card.md must print the weights' sha256"
    assert weights_sha256(path) == SHIPPED[DEFAULT_PRETRAINED].sha256 == checksums[0]
    with safe_open(str(path), "pt") as f:
        dtypes = {f.get_slice(k).get_dtype() for k in f.keys()}
        assert f.metadata()["preset"] == "walrus-mini"
    assert dtypes == {"BF16"}


def test_loads_offline_in_float32_and_from_the_surrogate(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = walrus.get_model("walrus-mini", weights="pretrained")
    assert model.config == walrus.get_model("walrus-mini", meta=True).config
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    sur = walrus.Surrogate.from_pretrained()
    for (name, a), (_, b) in zip(model.state_dict().items(), sur.model.state_dict().items()):
        assert torch.equal(a, b), name


def test_a_corrupt_or_missing_file_is_refused(tmp_path, monkeypatch):
    copy = tmp_path / SHIPPED[DEFAULT_PRETRAINED].filename
    shutil.copy(shipped_path(), copy)
    with open(copy, "r+b") as f:
        f.seek(copy.stat().st_size // 2)
        byte = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([byte[0] ^ 0xFF]))
    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", tmp_path)
    with pytest.raises(CheckpointError, match="sha256"):
        walrus.get_model("walrus-mini", weights="pretrained")
    copy.unlink()
    with pytest.raises(CheckpointError, match="missing"):
        walrus.get_model("walrus-mini", weights="pretrained")


def test_pretrained_needs_a_shipped_preset_and_no_overrides():
    with pytest.raises(ArgumentError, match="walrus-mini"):
        walrus.get_model("walrus-tiny", weights="pretrained")
    with pytest.raises(ArgumentError, match="n_blocks"):
        walrus.get_model("walrus-mini", weights="pretrained", n_blocks=2)


def test_beats_persistence_one_step_on_a_fresh_heldout_sample(tmp_path):
    from walrus.data.generators.pipeline import generate_dataset
    from walrus.data.well_dataset import WellWindowDataset
    from walrus.train.batching import collate, dataset_layout
    from walrus.train.evaluation import persistence_predictor, rollout_vrmse, walrus_predictor

    model = walrus.get_model("walrus-mini", weights="pretrained").eval()
    root = generate_dataset("shallow_water_pyclaw", tmp_path, n_traj=3, res=32, steps=8, seed=SAMPLE_SEED,
                            progress=False)
    data = WellWindowDataset(root / "data" / "train", n_steps_input=model.config.history_2d, n_steps_output=1)
    layout = dataset_layout(data, model.config.field_names)
    batch = collate([data[i] for i in range(len(data))], layout, "shallow_water_pyclaw")
    with torch.no_grad():
        ours = rollout_vrmse(walrus_predictor(model, seed=0), batch, 1).mean()
    copy = rollout_vrmse(persistence_predictor(), batch, 1).mean()
    assert float(ours) < float(copy)


def _significant_digits(text: str) -> int:
    digits = text.replace(".", "").lstrip("0")
    return max(len(digits), 1)


def test_the_cards_metrics_are_the_committed_results():
    """Every number of the card's metrics table is bench/results/accuracy.json's, rounded as printed."""
    import json

    results = json.loads((CARD.parents[1] / "bench" / "results" / "accuracy.json").read_text())["results"]
    card = CARD.read_text().split("## Metrics", 1)[1].split("##", 1)[0]
    rows = [line for line in card.splitlines() if line.startswith("| ") and not line.startswith(("| system", "| ---"))]
    columns = [("persistence", "one_step"), ("walrus-mini", "one_step"),
               ("persistence", "steps_1_10"), ("walrus-mini", "steps_1_10")]
    assert {row.split("|")[1].strip() for row in rows} == set(results)
    for row in rows:
        system, *cells = [cell.strip().strip("*") for cell in row.strip("|").split("|")]
        for cell, (model, horizon) in zip(cells, columns, strict=True):
            value = results[system]["models"][model][horizon]
            assert float(f"{value:.{_significant_digits(cell)}g}") == float(cell), (system, model, horizon, cell)
