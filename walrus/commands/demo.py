"""`walrus demo`: one prediction of a model on a generated 2-D flow, as a smoke test a user can read."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Callable

import torch

from walrus.errors import ConfigError

_BOUNDARIES = {"wall": 0, "open": 1, "periodic": 2}
#: grid cells per axis the demo accepts (the field is built in memory, size x size x history frames)
SIZES = (4, 512)


def vortex_pair_history(size: int, steps: int, dt: float = 0.02) -> torch.Tensor:
    """(steps, 4, size, size): pressure, velocity_x, velocity_y, density of a Gaussian vortex pair
    drifting across a unit periodic box."""
    coords = (torch.arange(size, dtype=torch.float64) + 0.5) / size
    x, y = torch.meshgrid(coords, coords, indexing="ij")
    frames = []
    for k in range(steps):
        shift = 0.3 * k * dt
        u = torch.zeros_like(x)
        v = torch.zeros_like(x)
        p = torch.zeros_like(x)
        for cx, cy, sign in ((0.35 + shift, 0.5, 1.0), (0.65 + shift, 0.5, -1.0)):
            dx = torch.remainder(x - cx + 0.5, 1.0) - 0.5
            dy = torch.remainder(y - cy + 0.5, 1.0) - 0.5
            g = torch.exp(-(dx ** 2 + dy ** 2) / 0.01)
            u += -sign * dy * g * 10
            v += sign * dx * g * 10
            p += -g
        rho = 1.0 + 0.1 * torch.sin(2 * math.pi * (x - shift))
        frames.append(torch.stack([p, u, v, rho]))
    return torch.stack(frames).float()


def run_demo(preset: str, weights: Path | None, size: int, boundary: str, seed: int, out: Path | None,
             echo: Callable[[str], None]) -> dict:
    import walrus
    from walrus.model import RELEASE_FIELD_NAMES, predict_next

    check_args(preset=preset, weights=weights, size=size, boundary=boundary, seed=seed, out=out)
    torch.manual_seed(seed)
    model = walrus.get_model(preset, weights=weights).eval()
    cfg = model.config
    names = ["pressure", "velocity_x", "velocity_y", "density"]
    index = {n: i for i, n in enumerate(cfg.field_names)}
    missing = [n for n in names if n not in index]
    if missing:
        raise ConfigError("the model's vocabulary lacks the demo's fields", field="--preset/--weights",
                          expected=f"a model whose vocabulary has {names}", received=f"one without {missing}")
    history = vortex_pair_history(size, cfg.history_2d + 1)
    window, truth = history[:-1].unsqueeze(1), history[-1]
    field_ids = torch.tensor([index[n] for n in names])
    code = _BOUNDARIES[boundary]
    bcs = [[code, code], [code, code]]
    plan = model.plan((size, size, 1), bcs + [[2, 2]])
    generator = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    with torch.no_grad():
        pred = predict_next(model, window, field_ids, bcs, generator=generator)[0]
    elapsed = time.perf_counter() - start
    n_params = sum(p.numel() for p in model.parameters())
    echo(f"model {preset}: {n_params:,d} parameters, vocabulary of {cfg.n_states} fields"
         f"{' (release names)' if cfg.field_names == RELEASE_FIELD_NAMES else ''}")
    echo(f"input: {cfg.history_2d} frames of {size}x{size}, {boundary} boundaries -> "
         f"token grid {plan[0].n_tokens}x{plan[1].n_tokens} (strides {plan[0].strides})")
    echo(f"one step in {elapsed * 1e3:.1f} ms")
    summary = {}
    for i, name in enumerate(names):
        err = (pred[i] - truth[i]).pow(2).mean().sqrt().item()
        persist = (window[-1, 0, i] - truth[i]).pow(2).mean().sqrt().item()
        summary[name] = dict(rmse=err, persistence_rmse=persist)
        echo(f"  {name:<11} rmse vs next frame {err:.4g}   (persistence {persist:.4g})")
    if weights is None:
        echo("(untrained weights: errors are only a smoke test; pass --weights for a trained model)")
    if out is not None:
        _plot(window[-1, 0], pred, truth, names, out)
        echo(f"wrote {out}")
    return summary


def check_args(*, preset: str, weights: Path | None, size: int, boundary: str, seed: int, out: Path | None) -> None:
    """Refuse bad demo arguments with a `ConfigError` naming the option, before any model is built."""
    import difflib

    from walrus.model.config import list_models

    presets = list_models()
    if preset not in presets:
        close = difflib.get_close_matches(str(preset), presets, n=1)
        raise ConfigError("unknown model preset", field="--preset", expected=f"one of {presets}", received=repr(preset),
                          hint=f"did you mean {close[0]!r}?" if close else None)
    if isinstance(size, bool) or not isinstance(size, int) or not SIZES[0] <= size <= SIZES[1]:
        raise ConfigError(field="--size", expected=f"an integer in [{SIZES[0]}, {SIZES[1]}] (grid cells per axis)",
                          received=repr(size))
    if boundary not in _BOUNDARIES:
        raise ConfigError("unknown boundary", field="--boundary", expected=f"one of {sorted(_BOUNDARIES)}",
                          received=repr(boundary))
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2 ** 63:
        raise ConfigError(field="--seed", expected="an integer in [0, 2**63)", received=repr(seed))
    if weights is not None and not Path(weights).is_file():
        raise ConfigError("checkpoint not found", field="--weights",
                          expected="an existing checkpoint file (ours or the official walrus.pt)", received=str(weights))
    if out is not None and Path(out).is_dir():
        raise ConfigError("--out is a directory", field="--out", expected="a PNG file path", received=str(out))


def _plot(last: torch.Tensor, pred: torch.Tensor, truth: torch.Tensor, names: list[str], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, len(names), figsize=(3 * len(names), 8), constrained_layout=True)
    for j, name in enumerate(names):
        for row, (label, img) in enumerate((("last input", last[j]), ("prediction", pred[j]), ("truth", truth[j]))):
            im = axes[row, j].imshow(img.T.numpy(), origin="lower", cmap="RdBu_r")
            axes[row, j].set_title(f"{name}: {label}", fontsize=9)
            axes[row, j].axis("off")
            fig.colorbar(im, ax=axes[row, j], shrink=0.7)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80)
    plt.close(fig)
