"""bench/token_budget.py end to end at a tiny size: walrus-tiny from a saved file, a tiny held-out set."""

import json
import sys
from pathlib import Path

import pytest
import torch
import yaml

import walrus
from walrus.model.checkpoint import save_checkpoint
from walrus.train.evaluation import walrus_predictor

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import accuracy  # noqa: E402
import token_budget  # noqa: E402


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("tb")
    config = root / "corpus.yaml"
    config.write_text(yaml.safe_dump({
        "datasets": [{"name": "gray_scott_pypde", "path": str(root / "gs"),
                      "generate": {"n_traj": 3, "res": 16, "steps": 8, "seed": 0}}],
        "out_dir": str(root / "run"), "preset": "walrus-tiny", "history_2d": 2}))
    torch.manual_seed(0)
    save_checkpoint(walrus.get_model("walrus-tiny"), root / "w.safetensors", preset="walrus-tiny")
    docs = root / "page.md"
    docs.write_text(f"# Page\n\n{token_budget.DOCS_BEGIN}\nold\n{token_budget.DOCS_END}\n\nafter\n")
    argv = ["--model", str(root / "w.safetensors"), "--corpus", str(config), "--heldout", str(root / "heldout"),
            "--heldout-traj", "3", "--systems", "gray_scott_pypde@16", "--budgets", "4", "16", "32",
            "--rollout", "2", "--window-future", "3", "--windows", "2", "--repeats", "2", "--warmup", "1",
            "--threads", "1", "--out", str(root / "tb.json"), "--plot", str(root / "tb.png"), "--docs", str(docs),
            "--quiet"]
    return root, token_budget.main(argv), docs


def test_record_has_speed_and_accuracy_per_budget(run):
    root, record, _ = run
    assert json.loads((root / "tb.json").read_text()) == json.loads(json.dumps(record))
    assert record["command"].startswith("python bench/token_budget.py --model ") and record["machine"]["cpu_count"]
    r = record["results"]["gray_scott_pypde@16"]
    assert r["trained_budget"] == 32 and r["history"] == 2 and r["windows"] == 2 and not r["three_d"]
    model = walrus.get_model(str(root / "w.safetensors"))
    for budget, row in r["budgets"].items():
        plans = model.plan((16, 16, 1), [[2, 2], [2, 2], [2, 2]], int(budget))  # Gray-Scott: periodic
        assert row["tokens"] == [p.n_tokens for p in plans], budget
        assert len(row["seconds_all"]) == 2 and row["seconds_per_step"] > 0
        assert len(row["per_step"]) == 2 and row["one_step"] == row["per_step"][0] > 0
    assert r["budgets"]["4"]["tokens"] == [4, 4, 1] and r["budgets"]["16"]["tokens"] == [16, 16, 1]
    # 16 and 32 tokens on a 16-cell axis are both stride 1: one network, measured once
    assert r["budgets"]["32"]["same_grid_as"] == 16 and r["budgets"]["32"]["per_step"] == r["budgets"]["16"]["per_step"]
    assert r["budgets"]["4"]["per_step"] != r["budgets"]["16"]["per_step"]


def test_scores_are_bench_accuracys_on_the_same_windows(run):
    root, record, _ = run
    r = record["results"]["gray_scott_pypde@16"]
    model = walrus.get_model(str(root / "w.safetensors"), dtype=torch.float32).eval()
    batches = accuracy.heldout_batches(root / "heldout" / "gray_scott_pypde" / "data", "gray_scott_pypde",
                                       model.config.field_names, 2, 3, 2)
    torch.set_num_threads(1)
    default = accuracy.evaluate(walrus_predictor(model, seed=0), batches, 2)  # no budget: the config's, 32
    coarse = accuracy.evaluate(walrus_predictor(model, seed=0, tokens_per_axis=4), batches, 2)
    assert r["budgets"]["32"]["per_step"] == pytest.approx(default["per_step"], rel=1e-5)
    assert r["budgets"]["4"]["per_step"] == pytest.approx(coarse["per_step"], rel=1e-5)
    assert r["persistence"]["per_step"] == pytest.approx(
        accuracy.evaluate(accuracy.persistence_predictor(), batches, 2)["per_step"], rel=1e-6)


def test_plot_and_docs_table(run):
    root, record, docs = run
    assert (root / "tb.png").read_bytes()[:4] == b"\x89PNG"
    text = docs.read_text()
    assert "\nold\n" not in text and text.endswith("after\n") and "| gray_scott_pypde@16 |" in text
    assert "**" in text and record["command"] in text  # the trained budget in bold, the command recorded


def test_a_resolution_the_corpus_does_not_list_is_refused(run, tmp_path):
    root, _, _ = run
    with pytest.raises(SystemExit, match="resolutions"):
        token_budget.main(["--model", str(root / "w.safetensors"), "--corpus", str(root / "corpus.yaml"),
                           "--systems", "gray_scott_pypde@64", "--out", str(tmp_path / "x.json"), "--quiet"])
