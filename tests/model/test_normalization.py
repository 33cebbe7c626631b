"""Asymmetric RMS normalisation and the delta reconstruction of the released inference step."""

import torch

from walrus.model import predict_next, rms_stats
from walrus.model.normalization import normalize_delta, normalize_input, reconstruct

from model_helpers import FIELDS, PERIODIC_2D, tiny


def test_stats_are_rms_over_time_and_space_without_mean_removal():
    x = torch.randn(4, 2, 3, 8, 8) + 5.0
    stats = rms_stats(x)
    assert stats.scale.shape == (1, 2, 3, 1, 1)
    torch.testing.assert_close(stats.scale[0, 1, 2, 0, 0], x[:, 1, 2].pow(2).mean().sqrt())
    deltas = x[1:] - x[:-1]
    torch.testing.assert_close(stats.delta_scale[0, 0, 1, 0, 0], deltas[:, 0, 1].pow(2).mean().sqrt())
    torch.testing.assert_close(normalize_input(x, stats).pow(2).mean((0, 3, 4)), torch.ones(2, 3))
    torch.testing.assert_close(normalize_delta(deltas, stats).pow(2).mean((0, 3, 4)), torch.ones(2, 3))


def test_constant_history_is_clamped_and_single_frame_has_unit_delta_scale():
    stats = rms_stats(torch.zeros(3, 1, 2, 4, 4))
    assert stats.scale.eq(1e-5).all() and stats.delta_scale.eq(1e-5).all()
    assert rms_stats(torch.randn(1, 1, 2, 4, 4)).delta_scale.eq(1).all()


def test_predict_next_is_last_state_plus_rescaled_last_output():
    model = tiny()
    x = torch.randn(6, 2, 4, 32, 32) * 3
    gen = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    with torch.no_grad():
        step = predict_next(model, x, FIELDS, PERIODIC_2D, generator=gen())
        stats = rms_stats(x)
        out = model(x / stats.scale, FIELDS, PERIODIC_2D, generator=gen())
    torch.testing.assert_close(step, x[-1] + stats.delta_scale[0] * out[-1])
    torch.testing.assert_close(reconstruct(x[-1], out[-1], stats), step)
    assert step.shape == (2, 4, 32, 32)


def test_prediction_scales_with_the_input_units():
    """Asymmetric RMS normalisation makes one step equivariant to a global rescaling."""
    model = tiny()
    x = torch.randn(6, 1, 4, 32, 32)
    with torch.no_grad():
        a = predict_next(model, x, FIELDS, PERIODIC_2D, deterministic=True)
        b = predict_next(model, 1000.0 * x, FIELDS, PERIODIC_2D, deterministic=True)
    torch.testing.assert_close(b, 1000.0 * a, rtol=1e-4, atol=1e-3)
