"""Error metrics with The Well's definitions (WELL_FORMAT.md §3), so scores are comparable.

Kept beside ``the_well.benchmark.metrics`` rather than calling it (docs/reuse.md): importing The
Well's metrics imports matplotlib.pyplot and switches the process's backend to Agg, the-well pins
fsspec exactly, and its metrics broadcast mismatched shapes silently. tests/test_metrics.py checks
every function here against The Well's on the same inputs.

Layout ``[..., *space, C]``: the ``n_spatial_dims`` axes before the last (channel) axis are
space; every function reduces over space only and returns ``[..., C]`` (no reduction over
batch, time or channels). ``n_spatial_dims`` may be an int or anything with an
``n_spatial_dims`` attribute (e.g. The Well's ``WellMetadata``). Inputs may be torch tensors or
numpy arrays. Conventions that matter for equality with The Well:

- eps = 1e-7 is added to every denominator;
- VRMSE divides by the **unbiased** spatial variance of the target;
- PearsonR uses a biased covariance over unbiased standard deviations, so PearsonR(y, y) = (N-1)/N;
- binned spectral MSE uses |k| = 2π·fftfreq(N) per axis and, by default, 3 bins with edges
  ``logspace(log10(2π/max N), log10(π√D + 1e-6), 4)`` with the first edge set to 0.
"""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["mse", "rmse", "nrmse", "vrmse", "linf", "pearson_r", "binned_spectral_mse", "METRICS",
           "validation_suite", "EPS"]

EPS = 1e-7


def _prep(pred, target, n_spatial_dims):
    n = int(getattr(n_spatial_dims, "n_spatial_dims", n_spatial_dims))
    pred = torch.from_numpy(pred) if isinstance(pred, np.ndarray) else pred
    target = torch.from_numpy(target) if isinstance(target, np.ndarray) else target
    if pred.shape != target.shape:
        from walrus.errors import ShapeError
        raise ShapeError("prediction and target differ in shape", field="pred", expected=tuple(target.shape),
                         received=tuple(pred.shape))
    if pred.ndim < n + 1:
        from walrus.errors import ShapeError
        raise ShapeError("too few dims for the spatial axes plus channels", field="pred",
                         expected=f">= {n + 1} dims ([..., *space({n}), C])", received=tuple(pred.shape))
    return pred, target, tuple(range(-n - 1, -1))


def mse(pred, target, n_spatial_dims) -> torch.Tensor:
    """Mean over space of the squared error."""
    pred, target, space = _prep(pred, target, n_spatial_dims)
    return (pred - target).pow(2).mean(dim=space)


def rmse(pred, target, n_spatial_dims) -> torch.Tensor:
    return mse(pred, target, n_spatial_dims).sqrt()


def nrmse(pred, target, n_spatial_dims, eps: float = EPS) -> torch.Tensor:
    """RMSE normalised by the target's RMS over space."""
    _, target_t, space = _prep(pred, target, n_spatial_dims)
    return (mse(pred, target, n_spatial_dims) / (target_t.pow(2).mean(dim=space) + eps)).sqrt()


def vrmse(pred, target, n_spatial_dims, eps: float = EPS) -> torch.Tensor:
    """RMSE normalised by the target's standard deviation over space (unbiased); ≈1 for predicting the mean."""
    _, target_t, space = _prep(pred, target, n_spatial_dims)
    n = math.prod(target_t.shape[d] for d in space)
    centred = target_t - target_t.mean(dim=space, keepdim=True)
    variance = centred.pow(2).sum(dim=space) / (n - 1)
    return (mse(pred, target, n_spatial_dims) / (variance + eps)).sqrt()


def linf(pred, target, n_spatial_dims) -> torch.Tensor:
    """Largest absolute error over space."""
    pred, target, space = _prep(pred, target, n_spatial_dims)
    return (pred - target).abs().amax(dim=space)


def pearson_r(pred, target, n_spatial_dims, eps: float = EPS) -> torch.Tensor:
    """Correlation over space: biased covariance / (unbiased σ_pred · unbiased σ_target + eps)."""
    pred, target, space = _prep(pred, target, n_spatial_dims)
    n = math.prod(pred.shape[d] for d in space)
    dp = pred - pred.mean(dim=space, keepdim=True)
    dt = target - target.mean(dim=space, keepdim=True)
    cov = (dp * dt).mean(dim=space)
    sp = (dp.pow(2).sum(dim=space) / (n - 1)).sqrt()
    st = (dt.pow(2).sum(dim=space) / (n - 1)).sqrt()
    return cov / (sp * st + eps)


def _wavenumber_bins(shape: tuple[int, ...], edges: torch.Tensor | None, device) -> tuple[torch.Tensor, int]:
    """Bin index of every (flattened) Fourier mode, and the number of bins.

    Wavenumbers and edges are float32, as in The Well, so every mode lands in the same bin.
    A mode in bin i satisfies edges[i] <= |k| < edges[i+1]; modes beyond the last edge are dropped.
    """
    ndim = len(shape)
    k2 = torch.zeros(shape, dtype=torch.float32, device=device)
    for axis, n in enumerate(shape):
        k = 2 * math.pi * torch.fft.fftfreq(n, dtype=torch.float32, device=device)
        view = [1] * ndim
        view[axis] = n
        k2 = k2 + k.reshape(view).pow(2)
    kmag = k2.sqrt().flatten()
    if edges is None:
        lo, hi = math.log10(2 * math.pi / max(shape)), math.log10(math.pi * math.sqrt(ndim) + 1e-6)
        edges = torch.logspace(lo, hi, 4, dtype=torch.float32, device=device)
        edges[0] = 0.0
    edges = torch.as_tensor(edges, device=device)
    index = torch.searchsorted(edges.to(kmag.dtype), kmag, right=True) - 1
    return index, len(edges) - 1


def binned_spectral_mse(pred, target, n_spatial_dims, bins=None) -> dict[str, torch.Tensor]:
    """MSE split by isotropic wavenumber band (Plancherel: the bands of the mse sum to the MSE).

    Returns ``spectral_error_mse_per_bin_i`` = Σ_{k in bin i} |FFT(pred - target)|² / N² and
    ``spectral_error_nmse_per_bin_i`` = that divided by the same sum for the target (+1e-7), each
    ``[..., C]``.
    """
    pred, target, space = _prep(pred, target, n_spatial_dims)
    shape = tuple(pred.shape[d] for d in space)
    n_points = math.prod(shape)
    index, n_bins = _wavenumber_bins(shape, bins, pred.device)

    def band_energy(x: torch.Tensor) -> torch.Tensor:
        power = torch.fft.fftn(x, dim=space).abs().pow(2)
        power = power.flatten(start_dim=space[0], end_dim=-2)  # [..., P, C]
        keep = (index >= 0) & (index < n_bins)
        onehot = torch.zeros(index.numel(), n_bins, dtype=power.dtype, device=power.device)
        onehot[keep.nonzero().squeeze(-1), index[keep]] = 1
        return torch.einsum("...pc,pb->...bc", power, onehot) / n_points ** 2  # [..., bins, C]

    err, true = band_energy(pred - target), band_energy(target)
    out = {f"spectral_error_mse_per_bin_{i}": err[..., i, :] for i in range(n_bins)}
    out |= {f"spectral_error_nmse_per_bin_{i}": err[..., i, :] / (true[..., i, :] + EPS) for i in range(n_bins)}
    return out


METRICS = {"MSE": mse, "RMSE": rmse, "NRMSE": nrmse, "VRMSE": vrmse, "LInfinity": linf, "PearsonR": pearson_r,
           "binned_spectral_mse": binned_spectral_mse}


def validation_suite(pred, target, n_spatial_dims) -> dict[str, torch.Tensor]:
    """The Well's validation suite (RMSE, NRMSE, LInfinity, VRMSE, binned spectral MSE, PearsonR), flat."""
    out = {}
    for name in ("RMSE", "NRMSE", "LInfinity", "VRMSE", "PearsonR"):
        out[name] = METRICS[name](pred, target, n_spatial_dims)
    out.update(binned_spectral_mse(pred, target, n_spatial_dims))
    return out
