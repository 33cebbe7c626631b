"""walrus.metrics equals the_well.benchmark.metrics on the same tensors (to 1e-6).

Every walrus metric has a Well equivalent and is compared with it here on random inputs in 1-D,
2-D and 3-D, float32 and float64, torch and numpy, and as The Well's whole validation suite.
docs/reuse.md says why walrus keeps its own implementation (light import, no matplotlib backend
switch, no fsspec pin, shape errors instead of silent broadcasting).
"""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

import walrus.metrics as M
from walrus.errors import ShapeError

import the_well.benchmark.metrics as W  # noqa: E402  (a dev dependency: a missing install must fail, not skip)

SHAPES = [((2, 3, 16, 16, 4), 2), ((2, 2, 8, 8, 8, 3), 3), ((2, 1, 12, 20, 2), 2), ((5, 32, 3), 1),
          ((2, 6, 10, 7, 2), 3)]
PAIRS = [("MSE", "MSE"), ("RMSE", "RMSE"), ("NRMSE", "NRMSE"), ("VRMSE", "VRMSE"), ("LInfinity", "LInfinity"),
         ("PearsonR", "PearsonR")]


def _data(shape, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    target = torch.randn(shape, generator=g, dtype=dtype) * 2 + 1
    pred = 0.7 * target + 0.3 * torch.randn(shape, generator=g, dtype=dtype)
    return pred, target


@pytest.mark.parametrize("shape, n", SHAPES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("seed", [0, 1])
def test_pointwise_metrics_equal_the_wells(shape, n, dtype, seed):
    pred, target = _data(shape, dtype, seed)
    meta = SimpleNamespace(n_spatial_dims=n)
    tol = 1e-6 if dtype == torch.float64 else 1e-5
    for ours, theirs in PAIRS:
        a = M.METRICS[ours](pred, target, n)
        b = getattr(W, theirs)()(pred, target, meta)
        assert a.shape == b.shape == shape[: -n - 1] + shape[-1:]
        torch.testing.assert_close(a, b, rtol=tol, atol=tol, msg=ours)


@pytest.mark.parametrize("shape, n", SHAPES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_binned_spectral_mse_equals_the_wells(shape, n, dtype):
    pred, target = _data(shape, dtype, seed=3)
    meta = SimpleNamespace(n_spatial_dims=n)
    a = M.binned_spectral_mse(pred, target, n)
    b = W.binned_spectral_mse()(pred, target, meta)
    assert sorted(a) == sorted(b) and len(a) == 6
    # The Well sums a bin as mean * count with mean = sum / (count + 1e-7): 1e-7 relative at most
    tol = dict(rtol=1e-6, atol=1e-9) if dtype == torch.float64 else dict(rtol=2e-5, atol=1e-6)
    for k in a:
        assert a[k].dtype == b[k].dtype == dtype
        torch.testing.assert_close(a[k], b[k], **tol, msg=k)


def test_binned_spectral_mse_with_custom_bins():
    pred, target = _data((2, 16, 16, 2), torch.float64, seed=4)
    bins = torch.tensor([0.0, 0.5, 1.0, 2.0, 3.0, 4.5])
    a = M.binned_spectral_mse(pred, target, 2, bins=bins)
    b = W.binned_spectral_mse()(pred, target, SimpleNamespace(n_spatial_dims=2), bins=bins)
    assert len(a) == 10
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-6, atol=1e-9, msg=k)


def test_bins_that_do_not_start_at_zero_equal_the_wells_upper_bins():
    """walrus drops modes below the first edge; The Well needs edges from 0 (F.one_hot refuses -1).
    Its bins above an extra 0 edge are walrus's bins."""
    pred, target = _data((2, 16, 16, 2), torch.float64, seed=5)
    meta = SimpleNamespace(n_spatial_dims=2)
    edges = torch.tensor([0.5, 1.0, 2.0, 3.0])
    with pytest.raises(RuntimeError):
        W.binned_spectral_mse()(pred, target, meta, bins=edges)
    a = M.binned_spectral_mse(pred, target, 2, bins=edges)
    b = W.binned_spectral_mse()(pred, target, meta, bins=torch.cat([torch.zeros(1), edges]))
    for kind in ("mse", "nmse"):
        for i in range(3):
            torch.testing.assert_close(a[f"spectral_error_{kind}_per_bin_{i}"], b[f"spectral_error_{kind}_per_bin_{i + 1}"],
                                       rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("shape, n", [((2, 3, 16, 16, 4), 2), ((2, 6, 10, 7, 2), 3)])
def test_validation_suite_equals_the_wells_suite(shape, n):
    """Key for key, The Well's validation_metric_suite (what its trainer logs) and ours."""
    from the_well.benchmark.metrics import validation_metric_suite

    pred, target = _data(shape, torch.float64, seed=6)
    meta = SimpleNamespace(n_spatial_dims=n)
    theirs = {}
    for metric in validation_metric_suite:
        value = metric(pred, target, meta)
        theirs |= value if isinstance(value, dict) else {type(metric).__name__: value}
    ours = M.validation_suite(pred, target, n)
    assert sorted(ours) == sorted(theirs)
    for k in ours:
        torch.testing.assert_close(ours[k], theirs[k], rtol=1e-6, atol=1e-9, msg=k)


@pytest.mark.parametrize("n", [2, 3])
def test_numpy_inputs_equal_the_wells_for_every_metric(n):
    pred, target = _data((2,) + (6,) * n + (2,), torch.float64, seed=7)
    meta = SimpleNamespace(n_spatial_dims=n)
    for ours, theirs in PAIRS:
        torch.testing.assert_close(M.METRICS[ours](pred.numpy(), target.numpy(), n),
                                   getattr(W, theirs)()(pred.numpy(), target.numpy(), meta), msg=ours)


@pytest.mark.parametrize("n", [2, 3])
def test_degenerate_targets_equal_the_wells(n):
    """A constant target (zero variance: the eps denominators decide) and a perfect prediction."""
    shape = (2,) + (5,) * n + (2,)
    meta = SimpleNamespace(n_spatial_dims=n)
    constant = torch.full(shape, 3.0, dtype=torch.float64)
    pred, _ = _data(shape, torch.float64, seed=8)
    for p, t in ((pred, constant), (constant, constant), (pred, pred)):
        for ours, theirs in PAIRS:
            torch.testing.assert_close(M.METRICS[ours](p, t, n), getattr(W, theirs)()(p, t, meta), rtol=1e-6,
                                       atol=1e-9, msg=ours)


def test_spectral_bands_sum_to_mse():
    pred, target = _data((3, 16, 16, 2), torch.float64)
    bands = M.binned_spectral_mse(pred, target, 2)
    total = sum(bands[f"spectral_error_mse_per_bin_{i}"] for i in range(3))
    torch.testing.assert_close(total, M.mse(pred, target, 2), rtol=1e-10, atol=1e-12)


def test_numpy_input_and_metadata_argument():
    pred, target = _data((2, 8, 8, 1), torch.float64)
    meta = SimpleNamespace(n_spatial_dims=2)
    a = M.vrmse(pred.numpy(), target.numpy(), meta)
    torch.testing.assert_close(a, W.VRMSE()(pred.numpy(), target.numpy(), meta))


def test_known_values():
    y = torch.randn(1, 16, 16, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    # predicting the spatial mean gives VRMSE close to 1 (exactly sqrt((N-1)/N) up to eps)
    mean = y.mean(dim=(1, 2), keepdim=True).expand_as(y)
    assert M.vrmse(mean, y, 2).item() == pytest.approx(np.sqrt(255 / 256), rel=1e-6)
    # PearsonR(y, y) = (N-1)/N because of the biased covariance over unbiased deviations
    assert M.pearson_r(y, y, 2).item() == pytest.approx(255 / 256, rel=1e-6)
    assert M.mse(y, y, 2).item() == 0 and M.linf(y + 2, y, 2).item() == pytest.approx(2)


def test_validation_suite_keys():
    pred, target = _data((2, 8, 8, 3), torch.float64)
    out = M.validation_suite(pred, target, 2)
    assert {"RMSE", "NRMSE", "LInfinity", "VRMSE", "PearsonR", "spectral_error_mse_per_bin_0"} <= set(out)


def test_shape_errors():
    """The Well broadcasts a (1, ...) target against a (2, ...) prediction without a word; walrus refuses."""
    assert W.MSE()(torch.zeros(2, 4, 4, 1), torch.zeros(1, 4, 4, 1), SimpleNamespace(n_spatial_dims=2)).shape == (2, 1)
    with pytest.raises(ShapeError, match="differ in shape"):
        M.mse(torch.zeros(2, 4, 4, 1), torch.zeros(1, 4, 4, 1), 2)
    with pytest.raises(ShapeError, match="differ in shape"):
        M.mse(torch.zeros(2, 4, 4, 1), torch.zeros(2, 4, 5, 1), 2)
    with pytest.raises(ShapeError, match="too few dims"):
        M.mse(torch.zeros(4, 4), torch.zeros(4, 4), 2)
