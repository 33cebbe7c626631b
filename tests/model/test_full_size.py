"""Full-size (1.3B) checks and CUDA checks: behind the `slow` and `gpu` markers, never in CI's default run.

    python -m pytest -m slow tests/model/test_full_size.py     # CPU, ~6 GB of memory
    python -m pytest -m gpu tests/model/test_full_size.py      # needs a CUDA device
"""

import pytest
import torch

import walrus
from walrus.model import predict_next

from model_helpers import FIELDS, PERIODIC_2D, WALL_2D, redraw_weights, tiny

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def full_model(device: str) -> walrus.Walrus:
    torch.manual_seed(0)
    return redraw_weights(walrus.get_model("walrus-1.3b", device=device), std=0.02).eval()


@pytest.mark.slow
def test_full_size_forward_on_cpu():
    model = full_model("cpu")
    x = torch.randn(2, 1, 4, 32, 32)
    with torch.no_grad():
        y = predict_next(model, x, FIELDS, WALL_2D, generator=torch.Generator().manual_seed(0))
    assert y.shape == (1, 4, 32, 32) and torch.isfinite(y).all()


@pytest.mark.gpu
@cuda
@pytest.mark.parametrize("shape, bcs", [((128, 128), WALL_2D), ((64, 64, 64), [[2, 2]] * 3)])
def test_full_size_forward_and_backward_on_gpu(shape, bcs):
    model = full_model("cuda")
    history = 6 if len(shape) == 2 else 3
    x = torch.randn(history, 1, 4, *shape, device="cuda")
    with torch.no_grad():
        y = predict_next(model, x, FIELDS.cuda(), bcs, generator=torch.Generator().manual_seed(0))
    assert y.shape == (1, 4, *shape) and torch.isfinite(y).all()
    model.train()
    out = model(x, FIELDS.cuda(), bcs, generator=torch.Generator().manual_seed(0))
    out.square().mean().backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert len(grads) == sum(1 for _ in model.parameters()) - 8  # the unused dim-key encoder/decoder has none
    assert all(torch.isfinite(g).all() for g in grads)


@pytest.mark.gpu
@cuda
@pytest.mark.parametrize("bcs", [PERIODIC_2D, WALL_2D])
def test_gpu_matches_cpu(bcs):
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    model = tiny()
    x = torch.randn(4, 2, 4, 64, 64)
    draws = model.draw_for(x.shape, bcs, torch.Generator().manual_seed(0))
    with torch.no_grad():
        cpu = model(x, FIELDS, bcs, draws=draws)
        gpu = model.cuda()(x.cuda(), FIELDS.cuda(), bcs, draws=draws).cpu()
    torch.testing.assert_close(gpu, cpu, rtol=1e-4, atol=1e-4)


@pytest.mark.gpu
@cuda
def test_full_size_official_layout_round_trip_on_gpu(tmp_path):
    model = walrus.get_model("walrus-1.3b")
    torch.save({"app": {"model": model.state_dict()}}, tmp_path / "walrus.pt")
    back = walrus.load_official(tmp_path / "walrus.pt", device="cuda")
    for (k, a), (_, b) in zip(model.state_dict().items(), back.state_dict().items()):
        assert torch.equal(a, b.cpu()), k
