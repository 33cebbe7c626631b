"""The token budget (compute-adaptive tokenisation) on Surrogate, predict_next and the evaluation
predictor: it reaches the network, gives the same numbers on every path, and is checked by name."""

import numpy as np
import pytest
import torch

import walrus
from walrus.errors import WalrusError
from walrus.model.normalization import normalize_input, predict_next, reconstruct, rms_stats
from walrus.state import State
from walrus.surrogate import Surrogate
from walrus.testing import redraw_weights

GRID = np.linspace(0.0, 1.0, 32, endpoint=False)
BAD_BUDGETS = [0, -1, 2.5, True, "8"]


def make_state(n_steps=6, seed=0):
    rng = np.random.default_rng(seed)
    fields = {"density": 1 + 0.1 * rng.random((n_steps, 32, 32)),
              "velocity": rng.standard_normal((n_steps, 32, 32, 2))}
    return State(fields=fields, time=np.arange(n_steps) * 0.1, coords={"x": GRID, "y": GRID},
                 boundaries={"x": "PERIODIC", "y": "WALL"}, units={"velocity": "m s-1", "density": "kg m-3"})


def tiny_model() -> walrus.Walrus:
    """walrus-tiny (trained budget 32 per axis in 2-D) with ordinary-scale weights."""
    torch.manual_seed(0)
    return redraw_weights(walrus.get_model("walrus-tiny")).eval()


def tokens_seen(model: walrus.Walrus) -> list:
    """Records the tokens per frame each forward pass hands the first processor block (batch 1;
    counted from the tensor's size, whatever order its axes are in)."""
    seen = []
    hidden = model.config.hidden_dim
    model.blocks[0].register_forward_pre_hook(
        lambda module, args: seen.append(args[0].numel() // (args[0].shape[0] * hidden)))
    return seen


def n_tokens(model: walrus.Walrus, budget=None, shape=(32, 32, 1), bcs=((2, 2), (0, 0), (2, 2))) -> int:
    return int(np.prod([p.n_tokens for p in model.plan(shape, bcs, budget)]))


def assert_same_states(a: State, b: State, **tol):
    for name in a.fields:
        np.testing.assert_allclose(a.fields[name], b.fields[name], **tol)


def test_the_budget_sets_the_token_grid_the_blocks_see():
    model = tiny_model()
    seen = tokens_seen(model)
    st = make_state()
    for budget in (None, 4, 8, 16):
        Surrogate(model, tokens_per_axis=budget).step(st)
    # 32 cells per axis: the trained budget 32 is stride 1; 4/8/16 pick coarser strides
    # (the wall axis carries the jitter padding's extra token where the stride is above 1)
    assert seen == [32 * 32, 4 * 5, 8 * 9, 16 * 17]
    assert [n_tokens(model, k) for k in (None, 4, 8, 16)] == seen


def test_surrogate_equals_predict_next_equals_forward_at_a_budget():
    model, st, budget = tiny_model(), make_state(), 8
    sur = Surrogate(model, seed=3, tokens_per_axis=budget)
    inputs = sur.model_inputs(st)
    with torch.no_grad():
        nxt = predict_next(model, inputs.x, inputs.field_ids, inputs.bcs, generator=torch.Generator().manual_seed(3),
                           tokens_per_axis=budget)
        stats = rms_stats(inputs.x, model.config.rms_eps)
        delta = model(normalize_input(inputs.x, stats), inputs.field_ids, inputs.bcs,
                      generator=torch.Generator().manual_seed(3), tokens_per_axis=budget, newest_only=True)
        default = predict_next(model, inputs.x, inputs.field_ids, inputs.bcs,
                               generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(nxt, reconstruct(inputs.x[-1], delta[-1], stats), rtol=0, atol=0)
    assert not torch.allclose(nxt, default, atol=1e-3)  # the budget changed the prediction

    out = sur.step(st)
    pred = nxt[:, :inputs.n_variable] * inputs.padded_field_mask.view(1, -1, 1, 1, 1)
    frame = st.from_model_tensor(pred.unsqueeze(0), time=[0.6], layout=inputs.layout)
    for name in st.fields:
        np.testing.assert_allclose(out.fields[name][-1], frame.fields[name][0], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("budget", [4, 8])
def test_streaming_first_step_equals_exact_at_a_budget(budget):
    st = make_state()
    exact = Surrogate(tiny_model(), seed=3, tokens_per_axis=budget).step(st)
    streaming = Surrogate(tiny_model(), seed=3, mode="streaming", tokens_per_axis=budget).step(st)
    default = Surrogate(tiny_model(), seed=3).step(st)
    assert_same_states(streaming, exact, rtol=1e-4, atol=1e-5)  # float32 round-off only, as at the default
    assert not np.allclose(exact.fields["velocity"][-1], default.fields["velocity"][-1], atol=1e-3)


def test_changing_the_budget_reopens_the_stream():
    model = tiny_model()
    model.deterministic = True  # no draws: a re-opened stream and an exact step see the same network
    seen = tokens_seen(model)
    st = make_state()
    sur = Surrogate(model, mode="streaming", tokens_per_axis=4)
    first = sur.step(st)
    assert set(seen) == {n_tokens(model, 4)}
    seen.clear()
    sur.tokens_per_axis = 8
    second = sur.step(first)
    assert set(seen) == {n_tokens(model, 8)}  # the stream was re-opened on the new grid
    expected = Surrogate(model, tokens_per_axis=8).step(first)
    assert_same_states(second, expected, rtol=1e-4, atol=1e-5)


def test_default_budget_is_the_config_budget():
    model, st = tiny_model(), make_state()
    none = Surrogate(model, seed=1).step(st)
    explicit = Surrogate(model, seed=1, tokens_per_axis=model.config.tokens_per_axis_2d).step(st)
    assert Surrogate(model).tokens_per_axis is None
    assert_same_states(none, explicit, rtol=0, atol=0)


def test_from_pretrained_takes_the_budget():
    sur = Surrogate.from_pretrained("walrus-tiny", tokens_per_axis=6.0)  # a preset: random weights, no file
    assert sur.tokens_per_axis == 6 and isinstance(sur.tokens_per_axis, int)


@pytest.mark.parametrize("bad", BAD_BUDGETS)
def test_bad_budgets_are_refused_by_name(bad):
    model = tiny_model()
    with pytest.raises(WalrusError, match="tokens_per_axis") as err:
        Surrogate(model, tokens_per_axis=bad)
    assert repr(bad) in str(err.value)
    sur = Surrogate(model, tokens_per_axis=4)
    with pytest.raises(WalrusError, match="tokens_per_axis"):
        sur.tokens_per_axis = bad
    assert sur.tokens_per_axis == 4  # a refused value leaves the budget as it was
    with pytest.raises(WalrusError, match="tokens_per_axis"):
        Surrogate.from_pretrained("walrus-tiny", tokens_per_axis=bad)
    inputs = sur.model_inputs(make_state())
    with pytest.raises(WalrusError, match="tokens_per_axis"):
        predict_next(model, inputs.x, inputs.field_ids, inputs.bcs, tokens_per_axis=bad)


def test_evaluation_predictor_takes_the_budget():
    from walrus.train.batching import Batch
    from walrus.train.evaluation import walrus_predictor

    model, st = tiny_model(), make_state()
    inputs = Surrogate(model).model_inputs(st)

    batch = Batch(x=inputs.x, future=inputs.x[-1:, :, :inputs.n_variable], field_ids=inputs.field_ids,
                  bcs=inputs.bcs, padded_mask=inputs.padded_field_mask, n_variable=inputs.n_variable)
    with torch.no_grad():
        got = walrus_predictor(model, seed=5, tokens_per_axis=8)(inputs.x, batch)
        want = predict_next(model, inputs.x, inputs.field_ids, inputs.bcs, generator=torch.Generator().manual_seed(5),
                            tokens_per_axis=8)[:, :inputs.n_variable]
        default = walrus_predictor(model, seed=5)(inputs.x, batch)
    torch.testing.assert_close(got, want, rtol=0, atol=0)
    assert not torch.allclose(got, default, atol=1e-3)
