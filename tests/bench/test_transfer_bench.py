"""bench/transfer.py end to end at tiny size: two `walrus finetune` runs per left-out system and the scoring."""

import json
import sys
from pathlib import Path

import pytest
import torch
import yaml

import walrus
from walrus.errors import ArgumentError
from walrus.model.checkpoint import save_checkpoint

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import transfer  # noqa: E402


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("transfer")
    config = root / "corpus.yaml"
    config.write_text(yaml.safe_dump({
        "datasets": [{"name": "gray_scott_pypde", "path": str(root / "gs"),
                      "generate": {"n_traj": 3, "res": 16, "steps": 10, "seed": 0}}],
        "out_dir": str(root / "run"), "preset": "walrus-tiny", "history_2d": 2, "batch_size_2d": 2}))
    torch.manual_seed(123)  # stands in for a checkpoint pretrained on another system
    save_checkpoint(walrus.get_model("walrus-tiny"), root / "pre.safetensors", preset="walrus-tiny",
                    metadata={"datasets": ["shallow_water_pyclaw"]})
    return root, config


def test_transfer_runs_both_arms_and_scores_them(setup, tmp_path):
    root, config = setup
    docs = tmp_path / "transfer.md"
    docs.write_text(f"# Transfer\n\n{transfer.DOCS_BEGIN}\nold\n{transfer.DOCS_END}\n\nafter\n")
    out = tmp_path / "t.json"
    record = transfer.main(["--corpus", str(config), "--pretrained", str(root / "pre.safetensors"),
                            "--epochs", "1", "--steps-per-epoch", "2", "--warmup-epochs", "0", "--cooldown-epochs", "0",
                            "--batch", "2", "--work", str(tmp_path / "work"), "--heldout", str(root / "heldout"),
                            "--rollout", "3", "--windows", "2", "--out", str(out), "--plot", str(tmp_path / "p.png"),
                            "--docs", str(docs), "--quiet"])
    assert json.loads(out.read_text()) == record
    assert record["left_out"] == ["gray_scott_pypde"] and record["pretrained_on"] == ["shallow_water_pyclaw"]
    assert record["pretraining"] is None  # no training log beside the stand-in checkpoint
    assert record["finetune_steps"] == 2 and record["pretrained_beats_scratch"]["of"] == 1
    row = record["results"]["gray_scott_pypde"]
    assert set(row["models"]) == {"persistence", "pretrained_zero_shot", "pretrained_finetuned", "scratch_finetuned"}
    for label, scores in row["models"].items():
        assert len(scores["per_step"]) == 3 and all(v >= 0 for v in scores["per_step"]), label
        assert scores["one_step"] == scores["per_step"][0]
    pre, scratch = row["finetune"]["pretrained"], row["finetune"]["scratch"]
    # different starting weights ...
    assert pre["init_weights_sha256"] != scratch["init_weights_sha256"]
    assert pre["loss"][0] != scratch["loss"][0]
    # ... the same recipe and data: the two configs differ only in init_from and out_dir
    configs = [yaml.safe_load(Path(r["config"]).read_text()) for r in (pre, scratch)]
    assert configs[0]["init_from"] != configs[1]["init_from"]
    for c in configs:
        c.pop("init_from"), c.pop("out_dir")
    assert configs[0] == configs[1] and configs[0]["datasets"] == yaml.safe_load(config.read_text())["datasets"]
    assert pre["steps"] == scratch["steps"] == 2
    assert pre["steps_per_dataset"] == scratch["steps_per_dataset"] == {"gray_scott_pypde": 2}
    # the fine-tuned models are what was scored, and they moved away from their starts
    assert transfer.weights_sha256(Path(pre["model"])) != pre["init_weights_sha256"]
    assert transfer.weights_sha256(Path(scratch["model"])) != scratch["init_weights_sha256"]
    assert row["models"]["pretrained_finetuned"] != row["models"]["scratch_finetuned"]
    text = docs.read_text()
    assert "\nold\n" not in text and text.endswith("after\n") and "| gray_scott_pypde |" in text
    assert "scratch_finetuned" in text and "of 1 systems" in text
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"


def test_transfer_refuses_a_system_seen_in_pretraining(setup, tmp_path):
    root, config = setup
    save_checkpoint(walrus.get_model("walrus-tiny"), tmp_path / "all.safetensors", preset="walrus-tiny",
                    metadata={"datasets": ["gray_scott_pypde"]})
    with pytest.raises(ArgumentError, match="not pretrained on"):
        transfer.main(["--corpus", str(config), "--pretrained", str(tmp_path / "all.safetensors"),
                       "--datasets", "gray_scott_pypde", "--quiet", "--out", str(tmp_path / "x.json")])
    with pytest.raises(ArgumentError, match="left some system"):
        transfer.main(["--corpus", str(config), "--pretrained", str(tmp_path / "all.safetensors"),
                       "--quiet", "--out", str(tmp_path / "x.json")])
