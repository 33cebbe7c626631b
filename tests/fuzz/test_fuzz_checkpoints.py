"""Fuzz the checkpoint loaders with damaged files: walrus safetensors checkpoints (with and without
their content sha256), the official layout as torch ``.pt`` and as plain safetensors, and training
checkpoints (directory + manifest). All tiny: ``walrus-tiny``.

Contract: a loader returns the model the file describes (bitwise, where the file carries a checksum
or CRC) or raises a WalrusError (CheckpointError) naming the file; never a raw exception, a hang on
absurd metadata, non-finite weights, or silently different weights from a checksummed file.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from hypothesis import given, settings, strategies as st
from safetensors.torch import load_file, save_file

from fuzz_helpers import assert_contract, examples, flip_bytes, truncate_file

import walrus
from walrus.errors import WalrusError
from walrus.model.checkpoint import (CHECKSUM_KEY, CheckpointError, content_sha256, load_any, load_checkpoint,
                                     load_official, read_metadata, save_checkpoint)
from walrus.train.checkpointing import latest_checkpoint, load_training_checkpoint, save_training_checkpoint

pytestmark = pytest.mark.filterwarnings("ignore")


class Evil:
    """Something a weights-only unpickler must refuse."""


def _engine(model):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    return SimpleNamespace(name="single", module=model, optimizer=opt, raw=model), \
        torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz_ckpt")
    torch.manual_seed(0)
    model = walrus.get_model("walrus-tiny")
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    ours = save_checkpoint(model, root / "ours.safetensors", preset="walrus-tiny")
    plain = save_checkpoint(model, root / "plain.safetensors", checksum=False)
    torch.save({"app": {"model": {f"module.{k}": v for k, v in state.items()}}}, root / "walrus.pt")
    save_file({k: v.contiguous() for k, v in state.items()}, str(root / "official.safetensors"))
    engine, sched = _engine(model)
    model(torch.randn(1, 1, 4, 32, 32), torch.tensor([3, 4, 5, 6]), torch.tensor([[2, 2], [2, 2]])).square().mean() \
        .backward()
    engine.optimizer.step()
    sched.step()
    trained = {k: v.detach().clone() for k, v in model.state_dict().items()}
    save_training_checkpoint(root / "run", engine, sched, dict(epoch=0, step=1, global_step=1), True)
    return dict(root=root, config=model.config, state=state, ours=ours, plain=plain, pt=root / "walrus.pt",
                official=root / "official.safetensors", run=root / "run", trained=trained,
                meta=read_metadata(ours), tensors=load_file(str(ours)))


class Scratch:
    def __init__(self, src: Path):
        self.dir = Path(tempfile.mkdtemp(prefix="walrus_fuzz_"))
        self.path = self.dir / src.name
        (shutil.copytree if src.is_dir() else shutil.copyfile)(src, self.path)

    def __enter__(self):
        return self.path

    def __exit__(self, *exc):
        shutil.rmtree(self.dir, ignore_errors=True)


def _equal_to(state, config=None):
    def check(model):
        if config is not None:
            assert model.config == config
        got = model.state_dict()
        assert set(got) == set(state)
        for k, v in state.items():
            assert got[k].dtype == v.dtype and torch.equal(got[k], v), f"{k}: weights silently changed"
    return check


def _finite_model(model):
    for k, v in model.state_dict().items():
        assert torch.isfinite(v).all(), f"{k}: non-finite weights loaded"


def _names_file(out, path):
    assert str(path) in str(out.error) or path.name in str(out.error), out.error


# --------------------------------------------------------------------------- ours (safetensors + metadata)
@settings(max_examples=examples(ci=30))
@given(data=st.data())
def test_byte_flipped_checkpoint_with_checksum_is_refused(base, data):
    with Scratch(base["ours"]) as path:
        flip_bytes(path, data, max_flips=6)
        out = assert_contract(lambda: load_checkpoint(path), check=_equal_to(base["state"], base["config"]))
        if out.refused:
            _names_file(out, path)


@settings(max_examples=examples(ci=15))
@given(fraction=st.floats(0.0, 0.999), which=st.sampled_from(["ours", "plain", "official", "pt"]))
def test_truncated_weights_are_refused(base, fraction, which):
    with Scratch(base[which]) as path:
        truncate_file(path, fraction)
        load = (lambda: load_checkpoint(path)) if which in ("ours", "plain") else \
            (lambda: load_any(path, config=base["config"]))
        _names_file(assert_contract(load, expect="error"), path)


CONFIG_EDITS = [("n_blocks", 10**9), ("n_blocks", -1), ("n_blocks", "2"), ("n_blocks", 2.5), ("n_blocks", True),
                ("hidden_dim", 0), ("hidden_dim", 10**12), ("n_heads", 0), ("groups", 3), ("field_names", []),
                ("field_names", ["a"] * 70), ("field_names", "abc"), ("base_kernels", [0, 0]),
                ("base_kernels", [10**6, 4]), ("history_2d", 0), ("history_2d", 10**9), ("rms_eps", -1.0),
                ("drop_path", float("nan")), ("time_buckets", 10**9), ("tokens_per_axis_2d", 0),
                ("jitter_patches", "yes"), ("unknown_key", 1), ("n_blocks", 3), ("mlp_ratio", 10**6)]
META_EDITS = ["drop_config", "drop_version", "drop_checksum", "drop_field_names", "bad_json", "version_abc",
              "version_99", "version_0", "config_list", "field_names_disagree"]
TENSOR_EDITS = ["int32", "int64", "complex64", "bool", "float64", "float16", "nan", "inf", "drop", "extra", "reshape"]


@settings(max_examples=examples(ci=40))
@given(data=st.data())
def test_checkpoint_with_bad_metadata_or_tensors_is_refused(base, data):
    meta = dict(base["meta"])
    tensors = {k: v.clone() for k, v in base["tensors"].items()}
    kind = data.draw(st.sampled_from(["config", "meta", "tensor"]), label="kind")
    must_refuse = True
    if kind == "config":
        key, value = data.draw(st.sampled_from(CONFIG_EDITS), label="edit")
        cfg = json.loads(meta["config"])
        cfg[key] = value
        meta["config"] = json.dumps(cfg)
    elif kind == "meta":
        edit = data.draw(st.sampled_from(META_EDITS), label="edit")
        if edit == "drop_config":
            del meta["config"]
        elif edit == "drop_version":
            del meta["walrus_format_version"]
        elif edit == "drop_checksum":
            del meta[CHECKSUM_KEY]
            must_refuse = False
        elif edit == "drop_field_names":
            del meta["field_names"]
        elif edit == "bad_json":
            meta["config"] = meta["config"][:-3]
        elif edit == "version_abc":
            meta["walrus_format_version"] = "abc"
        elif edit == "version_99":
            meta["walrus_format_version"] = "99"
        elif edit == "version_0":
            meta["walrus_format_version"] = "0"
        elif edit == "config_list":
            meta["config"] = "[1, 2, 3]"
        else:
            meta["field_names"] = json.dumps(["a", "b"])
        if edit == "drop_field_names":
            must_refuse = False
    else:
        edit = data.draw(st.sampled_from(TENSOR_EDITS), label="edit")
        key = data.draw(st.sampled_from(sorted(tensors)), label="tensor")
        t = tensors[key]
        if edit in ("int32", "int64", "complex64", "bool", "float64", "float16"):
            tensors[key] = t.to(getattr(torch, edit))
            must_refuse = edit not in ("float64", "float16")
        elif edit in ("nan", "inf"):
            flat = t.reshape(-1).clone()
            flat[data.draw(st.integers(0, flat.numel() - 1), label="index")] = float(edit)
            tensors[key] = flat.reshape(t.shape)
        elif edit == "drop":
            del tensors[key]
        elif edit == "extra":
            tensors["space_bag.weight"] = torch.zeros(3)
        else:  # a different shape (a one-element tensor gains an axis: halving it would change nothing)
            tensors[key] = t.reshape(-1)[: t.numel() // 2].clone() if t.numel() > 1 else t.reshape(1, *t.shape).clone()
    recompute = data.draw(st.booleans(), label="recompute checksum")
    if recompute and CHECKSUM_KEY in meta:
        meta[CHECKSUM_KEY] = content_sha256(tensors, meta)
    elif CHECKSUM_KEY in meta and meta != base["meta"] or CHECKSUM_KEY in meta and kind == "tensor":
        must_refuse = True  # the stored checksum no longer matches
    with Scratch(base["ours"]) as path:
        save_file(tensors, str(path), metadata=meta)
        expected = {k: v.to(torch.float32) for k, v in tensors.items()}
        out = assert_contract(lambda: load_checkpoint(path), check=_equal_to(expected),
                              expect="error" if must_refuse else None)
        if out.refused:
            _names_file(out, path)


def test_checksum_mismatch_is_named_and_absurd_n_blocks_is_refused_before_building(base, tmp_path, monkeypatch):
    meta = dict(base["meta"])
    tensors = {k: v.clone() for k, v in base["tensors"].items()}
    key = sorted(tensors)[0]
    tensors[key].reshape(-1)[0] += 1.0
    save_file(tensors, str(tmp_path / "flip.safetensors"), metadata=meta)
    with pytest.raises(CheckpointError, match="checkpoint content does not match its sha256: the file is corrupt"):
        load_checkpoint(tmp_path / "flip.safetensors")
    cfg = json.loads(meta["config"])
    cfg["n_blocks"] = 10**9
    meta["config"] = json.dumps(cfg)
    meta[CHECKSUM_KEY] = content_sha256(base["tensors"], meta)
    save_file(base["tensors"], str(tmp_path / "absurd.safetensors"), metadata=meta)
    import walrus.model.checkpoint as ck

    def no_building(*a, **k):
        raise AssertionError("the model was built before the config was checked")

    monkeypatch.setattr(ck, "Walrus", no_building)
    with pytest.raises(CheckpointError, match="n_blocks"):
        load_checkpoint(tmp_path / "absurd.safetensors")
    del meta["config"]
    save_file(base["tensors"], str(tmp_path / "noconfig.safetensors"), metadata=meta)
    with pytest.raises(CheckpointError, match="'config'"):
        load_checkpoint(tmp_path / "noconfig.safetensors")


def test_wrong_dtypes_and_nan_weights_are_named(base, tmp_path):
    for edit, words in ((lambda t: t.to(torch.int64), "dtype torch.int64"),
                        (lambda t: t.to(torch.complex64), "dtype torch.complex64"),
                        (lambda t: t * float("nan"), "non-finite")):
        tensors = dict(base["tensors"])
        key = "embed.0.proj1.weight" if "embed.0.proj1.weight" in tensors else sorted(tensors)[0]
        tensors[key] = edit(tensors[key])
        meta = dict(base["meta"])
        meta[CHECKSUM_KEY] = content_sha256(tensors, meta)
        save_file(tensors, str(tmp_path / "m.safetensors"), metadata=meta)
        with pytest.raises(CheckpointError, match=words) as info:
            load_checkpoint(tmp_path / "m.safetensors")
        assert key in str(info.value) and isinstance(info.value, WalrusError)
    # float64 weights are brought to the model's dtype, so the forward runs
    tensors = dict(base["tensors"])
    tensors[sorted(tensors)[0]] = tensors[sorted(tensors)[0]].double()
    save_file(tensors, str(tmp_path / "f64.safetensors"), metadata={**base["meta"], CHECKSUM_KEY: ""})
    with pytest.raises(CheckpointError, match="sha256"):
        load_checkpoint(tmp_path / "f64.safetensors")
    meta = {k: v for k, v in base["meta"].items() if k != CHECKSUM_KEY}
    save_file(tensors, str(tmp_path / "f64.safetensors"), metadata=meta)
    model = load_checkpoint(tmp_path / "f64.safetensors")
    assert {v.dtype for v in model.state_dict().values()} == {torch.float32}


# --------------------------------------------------------------------------- official layouts
@settings(max_examples=examples(ci=20))
@given(data=st.data())
def test_byte_flipped_official_pt_is_refused_or_identical(base, data):
    with Scratch(base["pt"]) as path:
        flip_bytes(path, data, max_flips=6)
        out = assert_contract(lambda: load_official(path, preset="walrus-tiny"), check=_equal_to(base["state"]))
        if out.refused:
            _names_file(out, path)
            assert "weights_only=False" not in str(out.error)


@settings(max_examples=examples(ci=10))
@given(data=st.data())
def test_byte_flipped_official_safetensors_is_refused_or_finite(base, data):
    # no checksum in this layout: a flip inside the tensor data cannot be detected, only refused when
    # it makes the file unreadable, the layout wrong or a weight non-finite
    with Scratch(base["official"]) as path:
        flip_bytes(path, data, max_flips=6)
        out = assert_contract(lambda: walrus.get_model("walrus-tiny", weights=path), check=_finite_model)
        if out.refused:
            _names_file(out, path)


def test_pickled_objects_are_refused_without_unsafe_advice(base, tmp_path):
    torch.save({"app": {"model": base["state"], "extra": Evil()}}, tmp_path / "evil.pt")
    for load in (lambda: load_official(tmp_path / "evil.pt", preset="walrus-tiny"),
                 lambda: load_any(tmp_path / "evil.pt", config=base["config"])):
        out = assert_contract(load, expect="error")
        assert isinstance(out.error, CheckpointError) and "evil.pt" in str(out.error)
        assert "weights_only=False" not in str(out.error) and "weights_only" not in str(out.error)


# --------------------------------------------------------------------------- training checkpoints
def _load_training(run: Path, config):
    path = latest_checkpoint(run)
    if path is None:
        raise CheckpointError(f"{run}: no checkpoint")  # the test's own: nothing to resume is a refusal here
    model = walrus.Walrus(config)
    engine, sched = _engine(model)
    load_training_checkpoint(path, engine, sched)
    return model


def _rewrite_manifest(ckpt: Path):
    from walrus.train.checkpointing import _sha256

    manifest = {str(p.relative_to(ckpt)): _sha256(p) for p in sorted(ckpt.rglob("*"))
                if p.is_file() and p.name != "MANIFEST.json"}
    (ckpt / "MANIFEST.json").write_text(json.dumps(manifest))


@settings(max_examples=examples(ci=25))
@given(data=st.data())
def test_damaged_training_checkpoint_is_refused_or_identical(base, data):
    with Scratch(base["run"]) as run:
        ckpt = next(run.glob("step_*"))
        target = data.draw(st.sampled_from(["state.pt", "trainer.json", "MANIFEST.json", "latest"]), label="file")
        file = run / "latest" if target == "latest" else ckpt / target
        kind = data.draw(st.sampled_from(["flip", "truncate", "delete", "pickle", "json"]), label="kind")
        rewrite = False
        if kind == "flip":
            flip_bytes(file, data, max_flips=3)
        elif kind == "truncate":
            truncate_file(file, data.draw(st.floats(0.0, 0.999), label="fraction"))
        elif kind == "delete":
            file.unlink()
        elif kind == "pickle":  # a state.pt with pickled objects and a manifest that vouches for it
            state = torch.load(ckpt / "state.pt", weights_only=True)
            state["extra"] = Evil()
            torch.save(state, ckpt / "state.pt")
            rewrite = True
        else:  # trainer.json edited, manifest recomputed
            progress = json.loads((ckpt / "trainer.json").read_text())
            key = data.draw(st.sampled_from(sorted(progress)), label="key")
            progress[key] = data.draw(st.sampled_from([None, -1, "x", [], {}, 2**70]), label="value")
            (ckpt / "trainer.json").write_text(json.dumps(progress))
            rewrite = True
        if rewrite:
            _rewrite_manifest(ckpt)
        out = assert_contract(lambda: _load_training(run, base["config"]), check=_equal_to(base["trained"]))
        if out.refused:
            assert "weights_only=False" not in str(out.error)
