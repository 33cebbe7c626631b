"""Fuzz the network (`Walrus.forward`, `predict_next`) and `walrus.get_model` under the error contract."""

from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import walrus
from fuzz_helpers import assert_contract, examples
from strategies import network_cases
from walrus.errors import CheckpointError, UnknownModelError, WalrusError
from walrus.model.normalization import predict_next
from walrus.testing import redraw_weights


@functools.lru_cache(maxsize=None)
def tiny() -> walrus.Walrus:
    torch.manual_seed(0)
    return redraw_weights(walrus.get_model("walrus-tiny"), seed=0).eval()


def _as_float32(x):
    return torch.as_tensor(np.asarray(x)).to(torch.float32) if not isinstance(x, torch.Tensor) else x.to(torch.float32)


@settings(max_examples=examples(ci=70))
@given(st.one_of(network_cases(allow_bad=False), network_cases()))
def test_forward(case):
    x, ids, bcs = case.kwargs["x"], case.kwargs["field_ids"], case.kwargs["bcs"]
    shape = case.info["shape"]

    def check(out):
        assert isinstance(out, torch.Tensor) and out.dtype == torch.float32
        assert tuple(out.shape) == shape

    with torch.no_grad():
        assert_contract(lambda: tiny()(x, ids, bcs, deterministic=True), check=check,
                        expect="ok" if case.valid else None)


@settings(max_examples=examples(ci=40))
@given(st.one_of(network_cases(allow_bad=False), network_cases()))
def test_predict_next(case):
    x, ids, bcs = case.kwargs["x"], case.kwargs["field_ids"], case.kwargs["bcs"]
    T, B, C, *spatial = case.info["shape"]

    def check(out):
        assert isinstance(out, torch.Tensor) and tuple(out.shape) == (B, C, *spatial)

    with torch.no_grad():
        out = assert_contract(lambda: predict_next(tiny(), x, ids, bcs, deterministic=True), check=check,
                              expect="ok" if case.valid else None)
        if out.ok and (not isinstance(x, torch.Tensor) or x.dtype != torch.float32):
            # float64 / integer / numpy inputs are cast to float32 first: the same computation as the
            # float32 input, so the same numbers (exactly)
            ref = predict_next(tiny(), _as_float32(x), ids, bcs, deterministic=True)
            torch.testing.assert_close(out.value, ref, rtol=0, atol=0)


_TMP = Path(tempfile.mkdtemp(prefix="walrus-fuzz-"))
(_TMP / "garbage.safetensors").write_bytes(b"\x00not a checkpoint" * 8)
(_TMP / "empty.pt").write_bytes(b"")
(_TMP / "a_directory.safetensors").mkdir(exist_ok=True)
NAMES = ["walrus-tiny", "/missing/file.safetensors", "missing.pt", "./nowhere/model.safetensors", "walrus-huge",
         "WALRUS-TINY", " walrus-tiny", "", " ", None, 3, 2.5, ["walrus-tiny"], Path("/missing/x.pt"),
         str(_TMP / "garbage.safetensors"), str(_TMP / "empty.pt"), str(_TMP / "a_directory.safetensors"),
         str(_TMP), "~/walrus.pt", "walrus-tiny/../x.safetensors"]
OVERRIDES = st.dictionaries(
    st.sampled_from(["n_blocks", "hidden_dim", "n_heads", "drop_path", "history_2d", "bogus_key", "field_names",
                     "base_kernels", "jitter_patches"]),
    st.one_of(st.integers(-2, 8), st.floats(allow_nan=True), st.text(max_size=4), st.none(), st.booleans(),
              st.just((8, 4)), st.just(("a", "b"))),
    max_size=2)


@settings(max_examples=examples(ci=35))
@given(st.one_of(st.sampled_from(NAMES), st.text(max_size=24)), OVERRIDES, st.sampled_from([None, torch.float32,
                                                                                            torch.int64, "cpu"]))
def test_get_model(name, overrides, dtype):
    if isinstance(name, str) and name in walrus.list_models() and name != "walrus-tiny":
        name = "walrus-tiny"  # never build the 1.3B model in a fuzz test
    # meta=True: no memory for the weights, so absurd sizes cannot exhaust the machine
    out = assert_contract(lambda: walrus.get_model(name, dtype=dtype, meta=True, **overrides),
                          check=lambda m: isinstance(m, walrus.Walrus), finite=False)
    if out.refused and not overrides and dtype in (None, torch.float32) and isinstance(name, (str, os.PathLike)):
        text = str(out.error)
        s = os.fspath(name)
        if s.endswith((".safetensors", ".pt")) and not Path(s).exists():
            assert isinstance(out.error, CheckpointError) and "no such" in text and s in text
        elif s.strip() and "/" not in s and not s.endswith((".pt", ".safetensors")) and not s.startswith(("~", ".")):
            assert isinstance(out.error, UnknownModelError) and "walrus-tiny" in text  # lists the presets


def test_get_model_missing_file_names_the_path():
    err = assert_contract(lambda: walrus.get_model("/missing/file.safetensors"), expect="error").error
    assert isinstance(err, CheckpointError) and "/missing/file.safetensors" in str(err) and "no such" in str(err)
    err = assert_contract(lambda: walrus.get_model("walrus-huge"), expect="error").error
    assert isinstance(err, UnknownModelError) and isinstance(err, KeyError)
    assert all(p in str(err) for p in walrus.list_models())


def test_network_errors_are_walrus_errors():
    assert issubclass(walrus.model.WalrusInputError, WalrusError)
    assert issubclass(walrus.model.UnsupportedGridError, WalrusError)
    assert issubclass(walrus.model.CheckpointError, WalrusError) and issubclass(CheckpointError, RuntimeError)
    from walrus.model.checkpoint import CheckpointError as FromCheckpoint
    assert FromCheckpoint is CheckpointError
