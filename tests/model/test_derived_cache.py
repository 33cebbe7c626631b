"""Weight-derived tensors kept between inference calls never go stale and never cut the graph."""

import pytest
import torch

from walrus.model.derived_cache import DerivedCache

from model_helpers import FIELDS, PERIODIC_2D, tiny


def _counting(value):
    calls = []

    def compute():
        calls.append(1)
        return value

    return compute, calls


def test_an_entry_is_reused_only_for_the_same_tensor_at_the_same_version():
    cache, w = DerivedCache(), torch.ones(3)
    compute, calls = _counting("v")
    assert cache.get(w, "k", compute) == "v" and cache.get(w, "k", compute) == "v"
    assert len(calls) == 1
    w.add_(1)  # an in-place update (an optimizer step, load_state_dict) bumps the version
    cache.get(w, "k", compute)
    assert len(calls) == 2
    cache.get(w.clone(), "k", compute)  # equal values, another object
    assert len(calls) == 3
    p = torch.nn.Parameter(torch.ones(3), requires_grad=False)
    cache.get(p, "p", compute)
    p.data = torch.ones(3, dtype=torch.float64)  # module.double(): same object and version, new storage
    cache.get(p, "p", compute)
    assert len(calls) == 5


def test_nothing_is_kept_while_gradients_flow_or_without_a_version_counter():
    cache = DerivedCache()
    p = torch.nn.Parameter(torch.ones(3))
    compute, calls = _counting("v")
    cache.get(p, "k", compute)
    cache.get(p, "k", compute)
    assert len(calls) == 2 and len(cache) == 0
    with torch.no_grad():
        cache.get(p, "k", compute)
        cache.get(p, "k", compute)
    assert len(calls) == 3 and len(cache) == 1
    with torch.inference_mode():
        t = torch.ones(3)
    cache.get(t, "k2", compute)
    cache.get(t, "k2", compute)
    assert len(calls) == 5


def _model(seed):
    model = tiny(seed)
    model.deterministic = True  # no random draws: two models see the same inputs
    return model


def _predict(model, x):
    with torch.no_grad():
        return model(x, FIELDS, [PERIODIC_2D + [[2, 2]]])


@pytest.fixture
def x():
    return torch.randn(4, 1, len(FIELDS), 32, 32, 1, generator=torch.Generator().manual_seed(3))


def test_inference_after_a_weight_update_equals_a_fresh_model(x):
    model = _model(0)
    _predict(model, x)  # fills the caches
    assert len(model.embed["2"]._kernels) > 0 and len(model.debed["2"]._kernels) > 0
    assert all(len(block.time_mixing.rel_pos_bias._masks) > 0 for block in model.blocks)  # T5 masks
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(1.01)
    fresh = _model(1)
    fresh.load_state_dict(model.state_dict())
    torch.testing.assert_close(_predict(model, x), _predict(fresh, x), rtol=0, atol=0)


def test_inference_after_load_state_dict_and_a_dtype_change_equals_a_fresh_model(x):
    model, other = _model(0), _model(2)
    _predict(model, x)
    model.load_state_dict(other.state_dict())
    torch.testing.assert_close(_predict(model, x), _predict(other, x), rtol=0, atol=0)
    model.double()
    fresh = _model(1).double()
    fresh.load_state_dict(model.state_dict())
    torch.testing.assert_close(_predict(model, x.double()), _predict(fresh, x.double()), rtol=0, atol=0)


def test_training_still_sends_gradients_to_the_kernels_and_biases_inference_kept(x):
    model = _model(0)
    _predict(model, x)  # an inference call first: its kept kernels must not stand in for the graph
    model.train()
    model(x, FIELDS, [PERIODIC_2D + [[2, 2]]]).square().mean().backward()
    for module in (model.embed["2"], model.debed["2"]):
        for p in (module.proj1.weight, module.proj2.weight):
            assert p.grad is not None and p.grad.abs().sum() > 0
    for block in model.blocks:  # and to the T5 bias, whose mask inference kept
        bias = block.time_mixing.rel_pos_bias.relative_attention_bias.weight
        assert bias.grad is not None and bias.grad.abs().sum() > 0


def test_kept_kernels_depend_on_the_fields(x):
    model = _model(0)
    _predict(model, x)
    swapped = FIELDS[[1, 0, 2, 3]]
    with torch.no_grad():
        got = model(x[:, :, [1, 0, 2, 3]], swapped, [PERIODIC_2D + [[2, 2]]])[:, :, [1, 0, 2, 3]]
    fresh = _model(0)
    with torch.no_grad():
        want = fresh(x[:, :, [1, 0, 2, 3]], swapped, [PERIODIC_2D + [[2, 2]]])[:, :, [1, 0, 2, 3]]
    torch.testing.assert_close(got, want, rtol=0, atol=0)
