"""walrus.metrics equals the_well.benchmark.metrics on the same tensors (to 1e-6)."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

import walrus.metrics as M
from walrus.errors import ShapeError

import the_well.benchmark.metrics as W  # noqa: E402  (a dev dependency: a missing install must fail, not skip)

SHAPES = [((2, 3, 16, 16, 4), 2), ((2, 2, 8, 8, 8, 3), 3), ((2, 1, 12, 20, 2), 2), ((5, 32, 3), 1)]
PAIRS = [("MSE", "MSE"), ("RMSE", "RMSE"), ("NRMSE", "NRMSE"), ("VRMSE", "VRMSE"), ("LInfinity", "LInfinity"),
         ("PearsonR", "PearsonR")]


def _data(shape, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    target = torch.randn(shape, generator=g, dtype=dtype) * 2 + 1
    pred = 0.7 * target + 0.3 * torch.randn(shape, generator=g, dtype=dtype)
    return pred, target


@pytest.mark.parametrize("shape, n", SHAPES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_pointwise_metrics_equal_the_wells(shape, n, dtype):
    pred, target = _data(shape, dtype)
    meta = SimpleNamespace(n_spatial_dims=n)
    tol = 1e-6 if dtype == torch.float64 else 1e-5
    for ours, theirs in PAIRS:
        a = M.METRICS[ours](pred, target, n)
        b = getattr(W, theirs)()(pred, target, meta)
        assert a.shape == b.shape == shape[: -n - 1] + shape[-1:]
        torch.testing.assert_close(a, b, rtol=tol, atol=tol, msg=ours)


@pytest.mark.parametrize("shape, n", SHAPES)
def test_binned_spectral_mse_equals_the_wells(shape, n):
    pred, target = _data(shape, torch.float64, seed=3)
    meta = SimpleNamespace(n_spatial_dims=n)
    a = M.binned_spectral_mse(pred, target, n)
    b = W.binned_spectral_mse()(pred, target, meta)
    assert sorted(a) == sorted(b) and len(a) == 6
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-6, atol=1e-9, msg=k)


def test_binned_spectral_mse_with_custom_bins():
    pred, target = _data((2, 16, 16, 2), torch.float64, seed=4)
    bins = torch.tensor([0.0, 0.5, 1.0, 2.0, 3.0, 4.5])
    a = M.binned_spectral_mse(pred, target, 2, bins=bins)
    b = W.binned_spectral_mse()(pred, target, SimpleNamespace(n_spatial_dims=2), bins=bins)
    assert len(a) == 10
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-6, atol=1e-9, msg=k)


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
    with pytest.raises(ShapeError, match="differ in shape"):
        M.mse(torch.zeros(2, 4, 4, 1), torch.zeros(2, 4, 5, 1), 2)
    with pytest.raises(ShapeError, match="too few dims"):
        M.mse(torch.zeros(4, 4), torch.zeros(4, 4), 2)
