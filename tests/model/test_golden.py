"""Golden outputs and gradients of today's network, so speed work can prove it changed nothing.

The fixtures in `golden/` (written by `golden/make_golden.py`) hold, for two models and five cases,
the network's output and the gradients of a fixed scalar loss with respect to the input and to a
few chosen parameters (a tensor of more than 2048 entries as a fixed random subset of 2048, to keep
the files small: 0.45 MB for both). Everything that feeds a case comes from here and not from torch's random
number generator: the weights and inputs are drawn with numpy's legacy `RandomState`, whose stream
numpy keeps frozen across versions, and the jitter shifts, token rolls and drop-path masks are
passed as explicit `Draws`. So a fixture fails only when the arithmetic changes.

The fixtures are computed in float64 (and stored as float32, a 6e-8 relative rounding). Each case
is checked twice:

* float64, at rtol = 1e-6 plus atol = 1e-6 x the tensor's RMS. float64 round-off (~1e-13) and the
  storage rounding sit far below that, so this is the "same computation" check: any change of the
  arithmetic (an eps, a pad, a rotary angle, a scale) shows, whatever the summation order.
* float32 (the dtype the model runs in), at rtol = atol/RMS = 1e-4. fp32 results differ in their
  last bits between CPUs, thread counts and kernel choices (oneDNN/MKL choose blockings, and so
  summation orders, by machine and thread count), and through RMS norms, softmaxes and a deep
  backward pass that grows: today's fp32 outputs sit up to ~1e-5 and its gradients up to ~2.5e-5
  of the tensor's RMS away from the float64 values, and 1 vs 2 threads alone move the gradients by
  up to ~1.5e-5 of the RMS. So an fp32 check at 1e-5 would fail on a mere reordering; 1e-4 leaves
  4x room above today's fp32 error while still catching a real change. Elements near zero after
  cancellation carry the absolute error of their larger neighbours, hence an atol scaled to the
  tensor rather than a fixed one.

A kernel that exists only for fp32/bf16 (a fused GPU norm) can only be checked by the second; one
that changes results in float64 only (e.g. computing rotary angles in the input's dtype: today
they are float32 for every dtype) shows in the first, which is then a real numerical change.
"""

from __future__ import annotations

import copy
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
import torch

import walrus
from walrus.model import Draws
from walrus.model.vocabulary import FLAG_FIELD_IDS

GOLDEN_DIR = Path(__file__).parent / "golden"
#: (rtol, atol as a fraction of the stored tensor's RMS) per dtype the cases run in.
TOLERANCE = {torch.float64: (1e-6, 1e-6), torch.float32: (1e-4, 1e-4)}
MAX_STORED = 2048       # a larger tensor is stored as a fixed random subset of this many entries

#: The models: walrus-tiny, and walrus-small's width/heads/groups with two blocks. Both use
#: coarse token grids (8 tokens per 2-D axis, 4 per 3-D axis) so the small grids below get
#: non-trivial stride pairs and the attention stays cheap.
MODELS: dict[str, tuple[str, dict]] = {
    "walrus-tiny": ("walrus-tiny", dict(tokens_per_axis_2d=8, tokens_per_axis_3d=4)),
    "walrus-small-2": ("walrus-small", dict(n_blocks=2, tokens_per_axis_2d=8, tokens_per_axis_3d=4)),
}

P, W, O = 2, 0, 1  # boundary codes: periodic, wall, open


@dataclass(frozen=True)
class Case:
    name: str
    shape: tuple[int, ...]                  # (T, B, C, *spatial)
    bcs: tuple                              # (B, n_spatial, 2)
    fields: tuple[int, ...]
    train: bool = False


CASES = (
    # 40 cells get the off-table stride pair (6, 1) with uneven zero padding.
    Case("wall_2d", (3, 2, 3, 24, 40), ((((W, W), (W, W)),) * 2), (3, 4, 28)),
    Case("periodic_2d", (3, 2, 3, 32, 32), ((((P, P), (P, P)),) * 2), (3, 4, 5)),
    # x periodic, y wall/open; the two batch elements differ (open/open), so the batch is split.
    Case("mixed_2d", (2, 2, 3, 32, 24), (((P, P), (W, O)), ((P, P), (O, O))), (3, 5, 28)),
    Case("mixed_3d", (2, 2, 3, 8, 8, 12), ((((P, P), (W, W), (O, W)),) * 2), (3, 4, 5)),
    # Training mode: drop-path masks with dropped steps/samples (and checkpointing in walrus-small).
    Case("train_2d", (3, 2, 3, 32, 24), ((((P, P), (W, O)),) * 2), (3, 4, 28), train=True),
)


def _rng(*keys: str) -> np.random.RandomState:
    """numpy's legacy generator: its stream is frozen across numpy versions (NEP 19)."""
    return np.random.RandomState(zlib.crc32("/".join(keys).encode()))


def _is_norm_weight(name: str) -> bool:
    parts = name.split(".")
    return len(parts) >= 2 and "norm" in parts[-2] and parts[-1] == "weight"


@lru_cache(maxsize=None)
def build(model_key: str, dtype: torch.dtype = torch.float32) -> walrus.Walrus:
    """The model with every parameter redrawn from numpy (in float32, then cast, so both dtypes
    hold the same values): norm weights 1 + 0.1 N(0, 1), everything else 0.05 N(0, 1), ordinary
    scales so the processor blocks matter to the output."""
    if dtype != torch.float32:
        return copy.deepcopy(build(model_key)).to(dtype)
    preset, overrides = MODELS[model_key]
    torch.manual_seed(0)  # torch's init is overwritten below; seeded only to keep building quiet
    model = walrus.get_model(preset, **overrides)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name == "encoder_dummy":
                continue
            z = _rng(model_key, name).standard_normal(p.shape).astype(np.float32)
            p.copy_(torch.from_numpy(1.0 + 0.1 * z if _is_norm_weight(name) else 0.05 * z))
    return model


def _draws(model: walrus.Walrus, case: Case, key: str) -> Draws:
    """Explicit jitter shifts, token rolls (periodic axes only, as the model draws them) and, in
    training, drop-path masks with at least one dropped entry each."""
    spatial = list(case.shape[3:]) + [1] * (3 - len(case.shape[3:]))
    plan_sets = [model.plan(spatial, [list(bc) for bc in b] + [[P, P]] * (3 - len(b))) for b in case.bcs]
    rng = _rng(key, case.name, "draws")
    plans = plan_sets[0]
    max_shift = [min(ps[a].max_shift for ps in plan_sets) for a in range(3)]
    shifts = tuple(int(rng.randint(-m, m + 1)) if m else 0 for m in max_shift)
    n_blocks = model.config.n_blocks
    rolls = tuple(tuple(int(rng.randint(0, p.n_tokens)) if p.periodic and p.n_tokens > 1 else 0 for p in plans)
                  for _ in range(n_blocks))
    t, b = case.shape[:2]
    time_keep, space_keep = [], []
    for i, rate in enumerate(model.drop_rates):
        if case.train and rate > 0:
            scale = 1.0 / (1.0 - rate)
            tk = np.full(t, scale, np.float32)
            tk[(i + 1) % t] = 0.0
            sk = np.full(t * b, scale, np.float32)
            sk[(2 * i) % (t * b)] = 0.0
            time_keep.append(torch.from_numpy(tk))
            space_keep.append(torch.from_numpy(sk))
        else:
            time_keep.append(None)
            space_keep.append(None)
    return Draws(shifts, rolls, tuple(time_keep), tuple(space_keep))


def chosen_parameters(model: walrus.Walrus, case: Case) -> dict[str, list[int] | None]:
    """Parameters whose gradients are recorded, with the vocabulary columns the case uses (the
    encoder's first and the decoder's last weight hold one column per vocabulary slot)."""
    dim = str(len(case.shape) - 3)
    last = model.config.n_blocks - 1
    enc_cols = list(case.fields) + list(FLAG_FIELD_IDS)  # the fields, then the flag slots
    return {
        f"embed.{dim}.proj1.weight": enc_cols,                       # the first encoder weight
        "blocks.0.space_mixing.fused_ff_qkv.weight": None,           # space attention qkv (+ MLP)
        f"blocks.{last}.time_mixing.input_head.weight": None,        # time attention qkv
        f"blocks.{last}.space_mixing.norm1.weight": None,            # an RMS group norm
        f"blocks.{last}.time_mixing.rel_pos_bias.relative_attention_bias.weight": None,
        f"debed.{dim}.proj2.weight": list(case.fields),              # the decoder's last weight
        f"debed.{dim}.proj2.bias": list(case.fields),
    }


def _select(g: torch.Tensor, cols: list[int] | None) -> torch.Tensor:
    if cols is None:
        return g
    # (out, in, k, k, k) for the encoder's Conv3d, (in, out, k, k, k) for the decoder's transpose;
    # the vocabulary axis is 1 for both weights and 0 for the decoder bias.
    return g[:, cols] if g.ndim > 1 else g[cols]


def subset_index(key: str, name: str, n: int) -> np.ndarray | None:
    """The flat positions stored for a tensor of n entries (None: all of them)."""
    if n <= MAX_STORED:
        return None
    return np.sort(_rng(key, name, "subset").choice(n, MAX_STORED, replace=False))


def run_case(model_key: str, case: Case, dtype: torch.dtype = torch.float64) -> dict[str, np.ndarray]:
    """Forward and backward of one case in `dtype`: the output and the gradients of
    sum(out * fixed weights), flattened (a fixed subset of the larger ones)."""
    model = build(model_key, dtype)
    model.train(case.train)
    model.zero_grad(set_to_none=True)
    rng = _rng(model_key, case.name, "inputs")
    x = torch.from_numpy(rng.standard_normal(case.shape).astype(np.float32)).to(dtype).requires_grad_(True)
    out = model(x, torch.tensor(case.fields), torch.tensor(case.bcs), draws=_draws(model, case, model_key))
    loss_weights = torch.from_numpy(rng.standard_normal(tuple(out.shape)).astype(np.float32)).to(dtype)
    (out * loss_weights).sum().backward()
    params = dict(model.named_parameters())
    result = {"out": out.detach(), "grad_x": x.grad}
    for name, cols in chosen_parameters(model, case).items():
        result[f"grad/{name}"] = _select(params[name].grad, cols)
    model.zero_grad(set_to_none=True)
    model.eval()
    stored = {}
    for name, t in result.items():
        flat = t.detach().reshape(-1).numpy()
        idx = subset_index(f"{model_key}/{case.name}", name, flat.size)
        stored[f"{case.name}/{name}"] = flat if idx is None else flat[idx]
    return stored


def fixture_path(model_key: str) -> Path:
    return GOLDEN_DIR / f"{model_key}.npz"


@lru_cache(maxsize=None)
def load_fixture(model_key: str) -> dict[str, np.ndarray]:
    with np.load(fixture_path(model_key), allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


@pytest.fixture(scope="module", autouse=True)
def _free_models():
    """The cached models (walrus-small-2 holds 27M parameters per dtype) go with this module."""
    yield
    build.cache_clear()
    load_fixture.cache_clear()


def compare(actual: dict[str, np.ndarray], expected: dict[str, np.ndarray], dtype: torch.dtype) -> None:
    rtol, atol_per_rms = TOLERANCE[dtype]
    for name, want in expected.items():
        got = torch.from_numpy(actual[name]).double()
        want = torch.from_numpy(want).double()
        atol = atol_per_rms * float(want.pow(2).mean().sqrt())
        torch.testing.assert_close(got, want, rtol=rtol, atol=atol, msg=lambda m, n=name: f"{n}: {m}")


def expected_for(model_key: str, case: Case) -> dict[str, np.ndarray]:
    fixture = load_fixture(model_key)
    expected = {k: v for k, v in fixture.items() if k.startswith(case.name + "/")}
    assert expected, f"no golden entries for {case.name} in {fixture_path(model_key).name}"
    return expected


@pytest.mark.parametrize("dtype", list(TOLERANCE), ids=str)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
@pytest.mark.parametrize("model_key", list(MODELS))
def test_matches_golden(model_key: str, case: Case, dtype: torch.dtype) -> None:
    expected = expected_for(model_key, case)
    actual = run_case(model_key, case, dtype)
    assert sorted(actual) == sorted(expected)
    compare(actual, expected, dtype)


def test_a_small_weight_change_fails_the_float64_check() -> None:
    """The check can fail: norm weights off by 1e-4 of their value move the results past it."""
    model_key, case = "walrus-tiny", CASES[1]
    model = build(model_key, torch.float64)
    norm = model.blocks[-1].space_mixing.norm1.weight
    saved = norm.detach().clone()
    try:
        with torch.no_grad():
            norm.mul_(1 + 1e-4)
        with pytest.raises(AssertionError):
            compare(run_case(model_key, case), expected_for(model_key, case), torch.float64)
    finally:
        with torch.no_grad():
            norm.copy_(saved)


def test_golden_values_are_not_degenerate() -> None:
    """Guards the comparison: every case's output and input gradient are finite, of ordinary scale
    and not constant, and the processor blocks contribute (their qkv gradients are non-zero)."""
    for model_key in MODELS:
        fixture = load_fixture(model_key)
        for case in CASES:
            for name in ("out", "grad_x", "grad/blocks.0.space_mixing.fused_ff_qkv.weight"):
                v = fixture[f"{case.name}/{name}"]
                assert np.isfinite(v).all() and v.std() > 1e-4, (model_key, case.name, name)
