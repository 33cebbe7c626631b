"""bench/baselines.py and bench/accuracy.py end to end on a tiny generated corpus."""

import json
import sys
from pathlib import Path

import pytest
import torch
import yaml

import walrus
from walrus.model.checkpoint import save_checkpoint
from walrus.train.config import TrainConfig
from walrus.train.corpus import prepare_corpus

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import accuracy  # noqa: E402
import baselines  # noqa: E402


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("acc")
    config = root / "corpus.yaml"
    config.write_text(yaml.safe_dump({
        "datasets": [{"name": "gray_scott_pypde", "path": str(root / "gs"),
                      "generate": {"n_traj": 3, "res": 16, "steps": 10, "seed": 0}}],
        "out_dir": str(root / "run"), "preset": "walrus-tiny", "history_2d": 2, "batch_size_2d": 2}))
    prepare_corpus(TrainConfig.from_yaml(config), progress=False, echo=lambda s: None)
    model = walrus.get_model("walrus-tiny")
    save_checkpoint(model, root / "w.safetensors", preset="walrus-tiny")
    baselines.main(["--corpus", str(config), "--seconds", "3", "--out", str(root / "base"), "--quiet"])
    return root, config


def test_baselines_are_the_wells_models_and_round_trip(corpus):
    root, config = corpus
    classes = baselines.well_model_classes()
    assert classes["fno"].__module__ == "the_well.benchmark.models.fno"
    assert classes["unet"].__module__ == "the_well.benchmark.models.unet_classic"
    cfg = TrainConfig.from_yaml(config)
    member = baselines.corpus_members(cfg, walrus.get_model("walrus-tiny", meta=True).config)["gray_scott_pypde"][0]
    from walrus.train.batching import collate

    batch = collate([member.train[0], member.train[1]], member.layout, member.name)
    for kind in baselines.KINDS:
        predictor, info = baselines.load_baseline(root / "base" / f"{kind}_gray_scott_pypde.pt")
        assert info["kind"] == kind and info["steps"] >= 3 and info["history"] == 2
        assert isinstance(predictor.model, baselines.well_model_classes()[kind])
        with torch.no_grad():
            out = predictor(batch.x, batch)
        assert out.shape == batch.x[-1, :, :batch.n_variable].shape and torch.isfinite(out).all()
        assert predictor.ch.n_in == 2 * 2  # two history frames of A and B, no constants


def test_accuracy_scores_every_model_on_heldout_seeds(corpus, tmp_path):
    root, config = corpus
    docs = tmp_path / "accuracy.md"
    docs.write_text(f"# Accuracy\n\n{accuracy.DOCS_BEGIN}\nold\n{accuracy.DOCS_END}\n\nafter\n")
    out = tmp_path / "acc.json"
    record = accuracy.main(["--corpus", str(config), "--walrus", f"tiny={root / 'w.safetensors'}",
                            "--baselines", str(root / "base"), "--heldout", str(root / "heldout"),
                            "--rollout", "3", "--windows", "2", "--out", str(out), "--plot", str(tmp_path / "p.png"),
                            "--docs", str(docs), "--quiet"])
    assert json.loads(out.read_text())["results"] == record["results"]
    row = record["results"]["gray_scott_pypde"]
    assert set(row["models"]) == {"persistence", "tiny", "fno", "unet"} and row["windows"] == 2
    for label, scores in row["models"].items():
        assert len(scores["per_step"]) == 3 and all(v >= 0 for v in scores["per_step"]), label
        assert scores["one_step"] == scores["per_step"][0]
        assert scores["steps_1_10"] == pytest.approx(sum(scores["per_step"]) / 3)
    # held-out trajectories come from another seed: different initial states than training's
    import h5py

    train_file = next((root / "gs" / "data" / "train").glob("*.h*5"))
    held_file = next((root / "heldout" / "gray_scott_pypde" / "data" / "train").glob("*.h*5"))
    with h5py.File(train_file) as a, h5py.File(held_file) as b:
        assert not (a["t0_fields/A"][0, 0] == b["t0_fields/A"][0, 0]).all()
    text = docs.read_text()
    assert "old" not in text and text.endswith("after\n") and "| gray_scott_pypde |" in text
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"


def test_heldout_seed_must_differ_from_training(corpus, tmp_path, monkeypatch):
    root, config = corpus
    cfg = TrainConfig.from_yaml(config)
    monkeypatch.setattr(accuracy, "HELDOUT_SEED", 0)
    with pytest.raises(ValueError, match="also a training seed"):
        accuracy.heldout_root(cfg, "gray_scott_pypde", tmp_path, n_traj=3, steps=5, progress=False)
