"""Checkpoints: bitwise save/load from metadata alone, the official layout, vocabulary growth."""

import json

import pytest
import torch

import walrus
from walrus.model import CheckpointError, extend_vocabulary, load_checkpoint, load_official, save_checkpoint
from walrus.model.checkpoint import read_metadata

from model_helpers import FIELDS, PERIODIC_2D, tiny


def outputs(model, x, fields=FIELDS):
    with torch.no_grad():
        return model(x, fields, PERIODIC_2D, generator=torch.Generator().manual_seed(0))


def test_save_load_is_bitwise_and_needs_no_constructor_arguments(tmp_path):
    model = tiny(field_names=walrus.model.RELEASE_FIELD_NAMES[:40], n_blocks=3)
    path = save_checkpoint(model, tmp_path / "m.safetensors", preset="walrus-tiny", metadata={"run": "unit-test"})
    back = load_checkpoint(path)
    assert back.config == model.config
    for (k, a), (k2, b) in zip(model.state_dict().items(), back.state_dict().items()):
        assert k == k2 and a.dtype == b.dtype and torch.equal(a, b)
    x = torch.randn(2, 1, 4, 32, 32)
    assert outputs(model, x).equal(outputs(back.eval(), x))
    meta = read_metadata(path)
    assert meta["preset"] == "walrus-tiny" and meta["history_2d"] == "6" and meta["history_3d"] == "3"
    assert json.loads(meta["field_names"]) == list(model.config.field_names)
    assert meta["walrus_format_version"] == "1" and meta["user.run"] == "unit-test"
    assert walrus.get_model(str(path)).config == model.config  # get_model accepts a path too


def test_official_layout_file_loads_strictly_in_one_call(tmp_path):
    model = tiny()
    state = {f"module.{k}": v for k, v in model.state_dict().items()}  # a DDP-style prefix is stripped
    del state["module.blocks.0.space_mixing.rotary_emb.freqs"]       # converters may drop the buffer
    torch.save({"app": {"model": state, "optimizer": {}}}, tmp_path / "walrus.pt")
    back = load_official(tmp_path / "walrus.pt", preset="walrus-tiny")
    x = torch.randn(2, 1, 4, 32, 32)
    assert outputs(model, x).equal(outputs(back.eval(), x))
    via_get_model = walrus.get_model("walrus-tiny", weights=tmp_path / "walrus.pt")
    assert outputs(via_get_model.eval(), x).equal(outputs(model, x))


def test_official_layout_safetensors_without_metadata_loads_in_one_call(tmp_path):
    from safetensors.torch import save_file

    model = tiny()
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp_path / "walrus.safetensors"))
    back = walrus.get_model("walrus-tiny", weights=tmp_path / "walrus.safetensors")
    x = torch.randn(2, 1, 4, 32, 32)
    assert outputs(back.eval(), x).equal(outputs(model, x))
    with pytest.raises(CheckpointError, match="do not match"):
        walrus.get_model("walrus-small", weights=tmp_path / "walrus.safetensors")


def test_official_file_with_the_wrong_layout_is_refused(tmp_path):
    state = tiny().state_dict()
    state["space_bag.linear.weight"] = torch.zeros(8, 10)
    torch.save({"app": {"model": state}}, tmp_path / "fork.pt")
    with pytest.raises(CheckpointError, match="space_bag"):
        load_official(tmp_path / "fork.pt", preset="walrus-tiny")


def test_truncated_and_foreign_files_are_refused(tmp_path):
    path = save_checkpoint(tiny(), tmp_path / "m.safetensors")
    data = path.read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="cut.safetensors"):
        load_checkpoint(tmp_path / "cut.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="junk.safetensors"):
        load_checkpoint(tmp_path / "junk.safetensors")
    (tmp_path / "junk.pt").write_bytes(b"\x80\x02garbage")
    with pytest.raises(CheckpointError, match="junk.pt"):
        load_official(tmp_path / "junk.pt")
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "missing.safetensors")


def test_an_interrupted_save_leaves_no_file(tmp_path, monkeypatch):
    import safetensors.torch

    def fail_midway(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(safetensors.torch, "save_file", fail_midway)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(tiny(), tmp_path / "m.safetensors")
    assert list(tmp_path.iterdir()) == []


def test_extending_the_vocabulary_keeps_old_fields_exact_and_copies_columns():
    model = tiny()
    grown = extend_vocabulary(model, ["salinity", "porosity"], init_from={"salinity": "concentration"})
    assert grown.config.field_names[-2:] == ("salinity", "porosity")
    assert grown.config.n_states == model.config.n_states + 2
    x = torch.randn(2, 1, 4, 32, 32)
    torch.testing.assert_close(outputs(grown.eval(), x), outputs(model, x), rtol=1e-5, atol=1e-6)
    concentration, salinity = model.config.field_names.index("concentration"), grown.config.n_states - 2
    as_conc = outputs(grown.eval(), x, torch.tensor([3, 4, 5, concentration]))
    as_sal = outputs(grown.eval(), x, torch.tensor([3, 4, 5, salinity]))
    torch.testing.assert_close(as_sal, as_conc, rtol=1e-5, atol=1e-6)
    release = extend_vocabulary(model, ["salinity"], scaling="release")
    assert not torch.allclose(outputs(release.eval(), x), outputs(model, x))
    with pytest.raises(KeyError, match="not in the model's vocabulary"):
        extend_vocabulary(model, ["salinity"], init_from={"salinity": "unobtainium"})


def test_checksum_is_stored_and_a_flipped_byte_is_refused(tmp_path):
    from walrus.model.checkpoint import CHECKSUM_KEY

    path = save_checkpoint(tiny(), tmp_path / "m.safetensors")
    assert len(read_metadata(path)[CHECKSUM_KEY]) == 64
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x01  # inside the last tensor's bytes: a silent change without the checksum
    (tmp_path / "flip.safetensors").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="does not match its sha256: the file is corrupt"):
        load_checkpoint(tmp_path / "flip.safetensors")
    plain = save_checkpoint(tiny(), tmp_path / "plain.safetensors", checksum=False)
    assert CHECKSUM_KEY not in read_metadata(plain)
    load_checkpoint(plain)


def test_config_bounds_are_checked_before_building():
    from walrus.errors import ConfigError, WalrusError

    for key, value in (("n_blocks", 10**9), ("n_blocks", -1), ("hidden_dim", 0), ("history_2d", 0),
                       ("n_blocks", 2.0), ("rms_eps", float("nan")), ("field_names", ("a", "b"))):
        with pytest.raises(ConfigError, match=key) as info:
            walrus.WalrusConfig.from_dict({**walrus.get_preset("walrus-tiny").config.to_dict(), key: value})
        assert isinstance(info.value, WalrusError)
    with pytest.raises(ConfigError, match="unknown"):
        walrus.WalrusConfig.from_dict({"n_layers": 3})


def test_a_checkpoint_whose_header_length_starts_with_0x80_loads_as_safetensors(tmp_path):
    """safetensors files begin with their header length (8 bytes, little-endian); a length whose low
    byte is 0x80 looks like a legacy torch pickle's first byte and must still load as ours."""
    model = tiny(n_blocks=1)
    for pad in range(0, 2048, 8):
        path = save_checkpoint(model, tmp_path / f"m{pad}.safetensors", preset="walrus-tiny",
                               metadata={"pad": "x" * pad})
        if path.read_bytes()[0] == 0x80:
            break
    else:
        pytest.fail("no padding gave a header length with low byte 0x80")
    back = walrus.get_model(str(path))
    for (k, a), (_, b) in zip(model.state_dict().items(), back.state_dict().items()):
        assert torch.equal(a, b), k
