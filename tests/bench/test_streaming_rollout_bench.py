"""bench/streaming_rollout.py end to end at a tiny size: walrus-tiny from a saved file, a tiny held-out set."""

import json
import sys
from pathlib import Path

import pytest
import torch
import yaml

import walrus
from walrus.errors import ArgumentError
from walrus.model.checkpoint import save_checkpoint
from walrus.testing import redraw_weights

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import streaming_rollout  # noqa: E402


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("sr")
    config = root / "corpus.yaml"
    config.write_text(yaml.safe_dump({
        "datasets": [{"name": "gray_scott_pypde", "path": str(root / "gs"),
                      "generate": {"n_traj": 3, "res": 16, "steps": 8, "seed": 0}}],
        "out_dir": str(root / "run"), "preset": "walrus-tiny", "history_2d": 3}))
    torch.manual_seed(0)
    # ordinary-scale weights: the release's small output init predicts almost no change, and then
    # streaming and exact mode would agree to a few 1e-5 on slowly changing data
    model = redraw_weights(walrus.get_model("walrus-tiny"), seed=0)
    save_checkpoint(model, root / "w.safetensors", preset="walrus-tiny")
    docs = root / "page.md"
    docs.write_text(f"# Page\n\n{streaming_rollout.DOCS_BEGIN}\nold\n{streaming_rollout.DOCS_END}\n\nafter\n")
    argv = ["--model", str(root / "w.safetensors"), "--corpus", str(config), "--heldout", str(root / "heldout"),
            "--systems", "gray_scott_pypde", "--configs", "exact", "exact-frozen-delta", "none",
            "every=2", "every=1", "drift=0.01,min_gap=2", streaming_rollout.DEFAULT, "--rollout", "4", "--windows", "1", "--seeds", "2",
            "--threads", "1", "--out", str(root / "sr.json"), "--docs", str(docs), "--quiet"]
    return root, streaming_rollout.main(argv), docs


def test_record_has_speed_and_accuracy_cost_per_configuration(run):
    root, record, _ = run
    assert json.loads((root / "sr.json").read_text()) == json.loads(json.dumps(record))
    assert record["command"].startswith("python bench/streaming_rollout.py --model ") and record["machine"]["cpu_count"]
    r = record["results"]["gray_scott_pypde"]
    assert r["history"] == 3 and r["windows"] == 1
    passes = {c: r[c]["full_passes_per_rollout"] for c in record["summary"]}
    assert passes["exact"] == passes["every=1"] == 4 and passes["none"] == 1 and passes["every=2"] == 2
    assert 1 < passes["drift=0.01,min_gap=2"] <= 2
    for config, row in r.items():
        if isinstance(row, dict):
            assert row["seconds_per_step"] > 0 and len(row["vrmse_per_step"]) == 4
            assert row["relative_vrmse_cost"] == pytest.approx(row["vrmse_mean"] / r["exact"]["vrmse_mean"] - 1)
    # every step a full pass is exact mode, draw for draw; a kept output scale or streaming is not
    assert r["every=1"]["vrmse_per_step"] == pytest.approx(r["exact"]["vrmse_per_step"], rel=1e-4)
    assert r["exact-frozen-delta"]["vrmse_per_step"][1:] != pytest.approx(r["exact"]["vrmse_per_step"][1:], rel=1e-4)
    assert r["none"]["vrmse_per_step"][1:] != pytest.approx(r["exact"]["vrmse_per_step"][1:], rel=1e-4)


def test_docs_table_is_rewritten_between_the_markers(run):
    _, record, docs = run
    text = docs.read_text()
    assert "old" not in text and text.endswith("after\n") and "| `every=2` | 2.0 |" in text
    assert record["command"] in text and "| `exact` |" not in text
    assert f"The default (`{streaming_rollout.DEFAULT}`) costs" in text
    assert "meets the target" in text or "does not meet the target" in text


def test_bad_configuration_is_refused_by_name():
    with pytest.raises(SystemExit, match="every=K"):
        streaming_rollout.parse_config("fast")
    with pytest.raises(ArgumentError, match="every"):
        streaming_rollout.parse_config("every=0")


def test_the_benchmarked_default_is_the_libraries():
    from walrus.model.streaming import Reanchor
    assert streaming_rollout.parse_config(streaming_rollout.DEFAULT) == Reanchor()
    assert streaming_rollout.DEFAULT in streaming_rollout.CONFIGS


def test_a_policy_can_be_chosen_on_the_corpus_validation_split(tmp_path):
    from walrus.train.config import TrainConfig
    from walrus.train.corpus import prepare_corpus

    config = tmp_path / "corpus.yaml"
    config.write_text(yaml.safe_dump({
        "datasets": [{"name": "gray_scott_pypde", "path": str(tmp_path / "gs"),
                      "generate": {"n_traj": 10, "res": 16, "steps": 8, "seed": 0}}],
        "out_dir": str(tmp_path / "run"), "preset": "walrus-tiny", "history_2d": 3}))
    save_checkpoint(redraw_weights(walrus.get_model("walrus-tiny"), seed=0), tmp_path / "w.safetensors",
                    preset="walrus-tiny")
    argv = ["--model", str(tmp_path / "w.safetensors"), "--corpus", str(config), "--split", "valid",
            "--heldout", str(tmp_path / "heldout"), "--systems", "gray_scott_pypde", "--configs", "none",
            "--rollout", "4", "--windows", "2", "--seeds", "1", "--threads", "1", "--out", str(tmp_path / "v.json"),
            "--quiet"]
    with pytest.raises(SystemExit, match="no validation split"):  # the corpus is not generated yet
        streaming_rollout.main(argv)
    prepare_corpus(TrainConfig.from_yaml(config), progress=False, echo=lambda s: None)
    record = streaming_rollout.main(argv)
    assert record["split"] == "valid" and record["results"]["gray_scott_pypde"]["windows"] == 2
    assert not (tmp_path / "heldout").exists()   # the held-out seed was not generated, let alone used
