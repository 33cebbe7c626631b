"""The Walrus network (the release's `IsotropicModel`): encode, 40 space-time blocks, decode.

Input: x of shape (T, B, C, H, W[, D]), already RMS-normalised (see `normalization.py`), the
vocabulary id of each channel, and boundary codes per batch element, axis and side.
Output: normalised deltas of every channel for every one of the T steps (the model is causal), or
for the newest step alone (`newest_only`, what inference reads: the earlier steps' tail is skipped).
"""

from __future__ import annotations

import math
from functools import partial
from typing import Callable, Literal, Sequence

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from walrus.errors import PredictionError, WalrusInputError  # noqa: F401  (WalrusInputError re-exported)
from walrus.model.config import WalrusConfig
from walrus.model.hmlp import StrideModulatedDecoder, StrideModulatedEncoder
from walrus.model.jitter import jitter, roll_moved, unjitter
from walrus.model.patching import BOUNDARY_NAMES, PERIODIC, AxisPlan, plan_axes, token_geometry
from walrus.model.random_draws import Draws, draw
from walrus.model.space_attention import FullAttention
from walrus.model.time_attention import AxialTimeAttention

MixedBoundaryPolicy = Literal["split", "first", "error"]
TOKEN_DIMS = (2, 3, 4)  # spatial dims of the channels-last tokens (T, B, h, w, d, C) inside the blocks

# The time-mixing step of block i, given the block's attention module, the tokens (T, B, h, w, d, C)
# and the drop-path scales (T,) or None; returns the tokens after time mixing. The full forward
# uses the attention's causal `forward`; streaming uses `forward_cached` with a per-block KV cache.
TimeMixingStrategy = Callable[[int, AxialTimeAttention, torch.Tensor, torch.Tensor | None], torch.Tensor]
TimeMixing = Callable[[AxialTimeAttention, torch.Tensor, torch.Tensor | None], torch.Tensor]


class SpaceTimeSplitBlock(nn.Module):
    """Time mixing, then space mixing (which holds the MLP). Channel mixing is the identity."""

    def __init__(self, cfg: WalrusConfig):
        super().__init__()
        self.time_mixing = AxialTimeAttention(cfg.hidden_dim, cfg.n_heads, cfg.groups,
                                              cfg.time_buckets, cfg.time_max_distance)
        self.space_mixing = FullAttention(cfg.hidden_dim, cfg.n_heads, cfg.groups, cfg.mlp_ratio, cfg.rope_max_freq)

    def forward(self, x: torch.Tensor, time_keep: torch.Tensor | None, space_keep: torch.Tensor | None,
                use_checkpoint: bool, mix_time: TimeMixing | None = None) -> torch.Tensor:
        """x: channels-last tokens (T, B, h, w, d, C). `mix_time(attention, x, keep)` replaces the time step (default: the
        full causal attention `self.time_mixing(x, keep)`); the block is still entered through
        `__call__` so hooks on it (FSDP unsharding) fire either way. A time step may return fewer
        steps than it was given (only the newest): space mixing then runs on those alone."""
        mix = self.time_mixing if mix_time is None else partial(mix_time, self.time_mixing)
        x = checkpoint(mix, x, time_keep, use_reentrant=False) if use_checkpoint else mix(x, time_keep)
        t, b = x.shape[:2]
        if space_keep is not None:
            space_keep = space_keep[-t * b:]  # (T*B,) scales, time-major: the kept steps' are last
        if use_checkpoint:
            y = checkpoint(self.space_mixing, x.flatten(0, 1), space_keep, use_reentrant=False)
        else:
            y = self.space_mixing(x.flatten(0, 1), space_keep)
        return y.unflatten(0, (t, b))


def _init_scaled_output(layer: nn.Module) -> None:
    """The release folds a 1e-6 layer scale into the init of the residual output projections."""
    nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5) / 1e-6)
    if layer.bias is not None:
        fan_in = layer.weight[0].numel()
        nn.init.uniform_(layer.bias, -1e-6 / math.sqrt(fan_in), 1e-6 / math.sqrt(fan_in))


class Walrus(nn.Module):
    def __init__(self, config: WalrusConfig | None = None):
        super().__init__()
        cfg = config or WalrusConfig()
        self.config = cfg
        dims = dict(n_states=cfg.n_states, intermediate_dim=cfg.intermediate_dim, hidden_dim=cfg.hidden_dim,
                    groups=cfg.groups, kernels=cfg.base_kernels)
        self.encoder_dummy = nn.Parameter(torch.ones(1))
        self.embed = nn.ModuleDict({k: StrideModulatedEncoder(**dims) for k in ("2", "3")})
        self.blocks = nn.ModuleList(SpaceTimeSplitBlock(cfg) for _ in range(cfg.n_blocks))
        self.debed = nn.ModuleDict({k: StrideModulatedDecoder(**dims) for k in ("2", "3")})
        self.drop_rates = tuple(float(r) for r in torch.linspace(0, cfg.drop_path, cfg.n_blocks, device="cpu"))
        # Release behaviour by default; `deterministic=True` switches off every random draw
        # while keeping the token grid the checkpoint was trained on.
        self.deterministic = False
        # Release behaviour is the stride table only; any grid size is our extension.
        self.release_strides = False
        # Sharded training: keep the unused 2-D/3-D encoder pair in the graph (with zero
        # gradient) so every rank reduces the same parameters whatever data it drew.
        self.keep_all_parameters_in_graph = False
        for block in self.blocks:
            _init_scaled_output(block.space_mixing.ff_out)
            _init_scaled_output(block.space_mixing.attn_out)
            _init_scaled_output(block.time_mixing.output_head)

    # ----------------------------------------------------------------- input handling
    @property
    def dtype(self) -> torch.dtype:
        """The floating dtype of the weights (inputs are cast to it)."""
        return self.encoder_dummy.dtype

    def as_input(self, x) -> torch.Tensor:
        """``x`` as a tensor of the model's dtype: other float dtypes and integers (exactly representable)
        are cast; bool, complex and non-numeric inputs are refused with a WalrusInputError naming ``x``."""
        if not isinstance(x, torch.Tensor):
            import numpy as np

            if not isinstance(x, np.ndarray) or x.dtype.kind not in "fiu":
                raise WalrusInputError("not a tensor", field="x", expected="a torch.Tensor (T, B, C, H, W[, D])",
                                       received=type(x).__name__ + (f" of dtype {x.dtype}" if hasattr(x, "dtype") else ""))
            x = torch.from_numpy(np.ascontiguousarray(x))
        target = self.dtype
        if x.dtype == target:
            return x
        if x.dtype == torch.bool or x.is_complex() or not (x.is_floating_point() or _is_integer_dtype(x.dtype)):
            raise WalrusInputError("expected a floating-point tensor", field="x",
                                   expected=f"a floating-point tensor (cast to the model's {target})",
                                   received=f"dtype {x.dtype}")
        if not x.is_floating_point() and x.numel() and not torch.equal(x.to(target).to(x.dtype), x):
            raise WalrusInputError("integer values not exactly representable in the model's dtype", field="x",
                                   expected=f"integers that {target} holds exactly (or a floating-point tensor)",
                                   received=f"dtype {x.dtype}, max |value| {int(x.abs().max())}")
        if x.is_floating_point() and x.numel() and torch.finfo(x.dtype).max > torch.finfo(target).max:
            big = x.abs().max()
            if torch.isfinite(big) and float(big) > torch.finfo(target).max:
                raise WalrusInputError("values exceed the model's dtype range", field="x",
                                       expected=f"|values| <= {torch.finfo(target).max:.3g} ({target})",
                                       received=f"max |value| {float(big):.3g} ({x.dtype})")
        return x.to(target)

    @staticmethod
    def as_index_tensor(value, name: str, device=None) -> torch.Tensor:
        """Integral codes/ids (ints, or floats that are whole numbers) as a LongTensor; refuse the rest,
        naming ``name``: a float like 2.5 is not silently truncated to 2, NaN/inf are not cast."""
        try:
            t = value if isinstance(value, torch.Tensor) else torch.as_tensor(value)
        except Exception as exc:  # ragged lists, strings, objects
            raise WalrusInputError("not an array of integers", field=name, expected="integers",
                                   received=repr(value)[:80]) from exc
        if t.dtype == torch.bool or t.is_complex():
            raise WalrusInputError("expected integer codes", field=name, expected="an integer tensor",
                                   received=f"dtype {t.dtype}")
        if t.is_floating_point():
            if t.numel() and not (torch.isfinite(t).all() and (t == t.round()).all()):
                bad = t[~(torch.isfinite(t) & (t == t.round()))].flatten()[:4].tolist()
                raise WalrusInputError("non-integral values", field=name, expected="whole numbers",
                                       received=f"{bad}")
            if t.numel() and float(t.abs().max()) > 2 ** 62:
                raise WalrusInputError("values out of range", field=name, expected="small integers",
                                       received=f"max |value| {float(t.abs().max()):.3g}")
        elif not _is_integer_dtype(t.dtype):
            raise WalrusInputError("expected integer codes", field=name, expected="an integer tensor",
                                   received=f"dtype {t.dtype}")
        return t.to(dtype=torch.long, device=device if device is not None else t.device)

    def _check_inputs(self, x: torch.Tensor, field_ids: torch.Tensor, bcs: torch.Tensor) -> None:
        if not torch.is_floating_point(x):
            raise WalrusInputError(f"x: expected a floating-point tensor, got dtype {x.dtype}")
        if x.ndim not in (5, 6):
            raise WalrusInputError(
                f"x: expected shape (T, B, C, H, W) or (T, B, C, H, W, D), got {x.ndim} dims {tuple(x.shape)}"
            )
        for axis, (label, n) in enumerate(zip(("T", "B", "C", "H", "W", "D"), x.shape)):
            if n == 0:
                raise WalrusInputError(f"empty axis {label} (dim {axis})", field="x",
                                       expected="at least one step, batch element, channel and cell per axis",
                                       received=f"shape {tuple(x.shape)}")
        if bcs.ndim != 3:
            raise WalrusInputError("wrong rank", field="bcs", expected=f"shape ({x.ndim - 3}, 2) or (B, {x.ndim - 3}, 2)",
                                   received=f"shape {tuple(bcs.shape)}")
        if field_ids.ndim != 1 or field_ids.shape[0] != x.shape[2]:
            raise WalrusInputError(
                f"field_ids: expected one vocabulary id per channel ({x.shape[2]}), got shape {tuple(field_ids.shape)}"
            )
        bad = [int(i) for i in field_ids.tolist() if not 3 <= int(i) < self.config.n_states]
        if bad:
            raise WalrusInputError(
                f"field_ids: unknown field id(s) {bad}; valid ids are 3..{self.config.n_states - 1} "
                f"(0-2 are the boundary flag slots the network adds itself)"
            )
        n_spatial = x.ndim - 3
        if bcs.shape[1:] != (n_spatial, 2) or bcs.shape[0] != x.shape[1]:
            raise WalrusInputError(
                f"bcs: expected shape (B={x.shape[1]}, {n_spatial}, 2), got {tuple(bcs.shape)}"
            )
        if not torch.isin(bcs, torch.tensor([0, 1, 2])).all():
            raise WalrusInputError(f"bcs: codes must be 0 (WALL), 1 (OPEN) or 2 (PERIODIC), got {sorted(set(bcs.flatten().tolist()))}")
        one_sided = (bcs[..., 0] == PERIODIC) != (bcs[..., 1] == PERIODIC)
        if one_sided.any():
            b, axis = (int(i) for i in one_sided.nonzero()[0])
            lo, hi = (BOUNDARY_NAMES[int(c)] for c in bcs[b, axis])
            raise WalrusInputError(f"bcs: axis {axis} of batch element {b} is periodic on one side only ({lo}, {hi})")
        check_dimensionality(x.shape[3:])
        if not torch.isfinite(x).all():
            raise WalrusInputError("x: contains NaN or infinite values")

    @classmethod
    def _as_bc_tensor(cls, bcs, batch: int) -> torch.Tensor:
        bcs = cls.as_index_tensor(bcs, "bcs", device="cpu")
        if bcs.ndim == 2:
            bcs = bcs.unsqueeze(0).expand(batch, *bcs.shape)
        return bcs

    def plan(self, spatial_shape: Sequence[int], bcs: Sequence[Sequence[int]],
             tokens_per_axis: int | None = None) -> tuple[AxisPlan, ...]:
        """Token plan for a lifted (3-axis) spatial shape and one set of boundary codes.

        tokens_per_axis: the token budget per axis for this input (compute-adaptive tokenisation:
            fewer tokens are faster, more are finer); default the config's 2-D/3-D targets.
        """
        cfg = self.config
        per_2d, per_3d = cfg.tokens_per_axis_2d, cfg.tokens_per_axis_3d
        if tokens_per_axis is not None:
            per_2d = per_3d = check_tokens_per_axis(tokens_per_axis)
        return plan_axes(tuple(spatial_shape), tuple(tuple(int(c) for c in bc) for bc in bcs), cfg.base_kernels,
                         cfg.jitter_patches, per_2d, per_3d, self.release_strides)

    # ----------------------------------------------------------------- forward
    def forward(self, x: torch.Tensor, field_ids: torch.Tensor, bcs, *, generator: torch.Generator | None = None,
                draws: Draws | None = None, deterministic: bool | None = None,
                mixed_bcs: MixedBoundaryPolicy = "split", check_inputs: bool = True,
                tokens_per_axis: int | None = None, newest_only: bool = False) -> torch.Tensor:
        """Normalised deltas (T, B, C, *spatial) for every input step.

        generator: a CPU `torch.Generator` for the jitter, token-roll and drop-path draws
            (default: torch's global generator, as in the release).
        draws: explicit draws (from `draw_for`) instead of a generator.
        deterministic: no random draws at all (default: `self.deterministic`, False as released).
        mixed_bcs: batch elements with different boundary codes are run as separate groups
            ("split"), read from element 0 only as the release does ("first"), or refused ("error").
        tokens_per_axis: token budget per spatial axis for this call (default: the config's); the
            stride pair of each axis is chosen for it, so one set of weights runs coarser or finer.
        newest_only: only the newest step's deltas, (1, B, C, *spatial): what inference reads. Equal
            to the last step of the full output; the last block's space mixing and the decoder then
            skip the earlier steps, which only the training loss reads.
        """
        if check_inputs:
            x = self.as_input(x)
        field_ids = self.as_index_tensor(field_ids, "field_ids", device=x.device)
        bcs = self._as_bc_tensor(bcs, x.shape[1] if x.ndim > 1 else 1)
        if check_inputs:
            self._check_inputs(x, field_ids, bcs)
        lifted = x.ndim == 5
        if lifted:  # 2-D data becomes a one-cell-thick 3-D slab with a periodic third axis
            x = x.unsqueeze(-1)
            bcs = torch.cat([bcs, torch.full((bcs.shape[0], 1, 2), PERIODIC, dtype=bcs.dtype)], dim=1)

        distinct = torch.unique(bcs, dim=0)
        if len(distinct) == 1 or mixed_bcs == "first":
            out = self._forward_one_bc(x, field_ids, bcs[0], generator, draws, deterministic, tokens_per_axis,
                                       newest_only)
        elif mixed_bcs == "error":
            raise WalrusInputError(f"bcs: batch elements have {len(distinct)} different boundary conditions; "
                                   f"pass mixed_bcs='split' or batch them separately")
        else:
            out = torch.empty_like(x[-1:] if newest_only else x)
            for bc in distinct:
                members = (bcs == bc).flatten(1).all(1).nonzero().flatten().to(x.device)
                out[:, members] = self._forward_one_bc(x[:, members], field_ids, bc, generator, draws, deterministic,
                                                       tokens_per_axis, newest_only)
        if check_inputs and not self.training and not torch.isfinite(out).all():
            raise PredictionError("the network produced NaN or infinite values", field="output",
                                  expected="finite values",
                                  received=f"{int((~torch.isfinite(out)).sum())} non-finite of {out.numel()}",
                                  hint="non-finite weights, or inputs far outside the normalised range")
        return out.squeeze(-1) if lifted else out

    def draw_for(self, x_shape: Sequence[int], bcs, generator: torch.Generator | None = None,
                 tokens_per_axis: int | None = None) -> Draws:
        """The random draws a forward pass on an input of this shape would make (train or eval)."""
        t, b, _, *spatial = x_shape
        spatial = list(spatial) + [1] * (3 - len(spatial))
        bc = self._as_bc_tensor(bcs, b)[0].tolist()
        bc = bc + [[PERIODIC, PERIODIC]] * (3 - len(bc))
        plans = self.plan(spatial, bc, tokens_per_axis)
        return draw(plans, tuple(p.n_tokens for p in plans), self.config.n_blocks, t, b, self.drop_rates,
                    generator, self.training, block_rolls=self.config.jitter_patches)

    def _forward_one_bc(self, x: torch.Tensor, field_ids: torch.Tensor, bc: torch.Tensor,
                        generator: torch.Generator | None, draws: Draws | None,
                        deterministic: bool | None, tokens_per_axis: int | None = None,
                        newest_only: bool = False) -> torch.Tensor:
        cfg = self.config
        t, b, c = x.shape[:3]
        plans = self.plan(x.shape[3:], bc.tolist(), tokens_per_axis)
        grid = tuple(p.n_tokens for p in plans)
        if deterministic if deterministic is not None else self.deterministic:
            draws = Draws.none(cfg.n_blocks)
        elif draws is None:
            draws = draw(plans, grid, cfg.n_blocks, t, b, self.drop_rates, generator, self.training,
                         block_rolls=cfg.jitter_patches)
        draws.check(plans, cfg.n_blocks, rolls_allowed=cfg.jitter_patches)

        use_ckpt = cfg.gradient_checkpointing_freq > 0 and self.training and torch.is_grad_enabled()
        if self.training and cfg.input_field_drop > 0:
            x = torch.nn.functional.dropout3d(x.flatten(0, 1), cfg.input_field_drop / c).unflatten(0, (t, b))
        h = self.encode(x, field_ids, plans, draws, use_ckpt)
        h = self.run_blocks(h, draws, use_checkpoint=use_ckpt, newest_only=newest_only)
        return self.decode(h, field_ids, plans, draws, use_ckpt)

    # ----------------------------------------------------------------- stages (shared with streaming)
    def encode(self, x: torch.Tensor, field_ids: torch.Tensor, plans: tuple[AxisPlan, ...], draws: Draws,
               use_checkpoint: bool = False) -> torch.Tensor:
        """Normalised input (T, B, C, H, W, D) -> tokens (T, B, hidden, h, w, d): patch jitter, then
        the stride-modulated encoder of the input's dimensionality."""
        geo = token_geometry(plans)
        t, b = x.shape[:2]
        x = jitter(x * self.encoder_dummy, plans, draws.patch_shifts)

        def encode(v: torch.Tensor) -> torch.Tensor:
            return self.embed[geo.dim_key](v.flatten(0, 1), field_ids, geo.strides1, geo.strides2).unflatten(0, (t, b))

        return checkpoint(encode, x, use_reentrant=False) if use_checkpoint else encode(x)

    def run_blocks(self, h: torch.Tensor, draws: Draws, time_mixing: TimeMixingStrategy | None = None,
                   use_checkpoint: bool = False, newest_only: bool = False) -> torch.Tensor:
        """The space-time blocks on tokens (T, B, hidden, h, w, d): each block's token roll, time
        mixing, space mixing; the accumulated roll is undone at the end. Inside, the tokens are
        channels-last (T, B, h, w, d, hidden), the layout every block's products read directly.

        time_mixing: the time step of block i as `time_mixing(i, attention, h, keep)` (default: the
            full causal attention over all T steps). Streaming passes a cached one.
        use_checkpoint: activation checkpointing of every `gradient_checkpointing_freq`-th block.
        newest_only: return the newest step only (1, B, hidden, h, w, d). Every block but the last
            still runs on all T steps (the last one's time attention reads them all); the last block
            computes its newest query only, and its space mixing runs on that step alone. Ignored
            with a `time_mixing` strategy, which decides for itself what each block returns.
        """
        freq = self.config.gradient_checkpointing_freq
        total_roll = [0, 0, 0]
        h = h.permute(0, 1, 3, 4, 5, 2).contiguous()
        for i, block in enumerate(self.blocks):
            roll = draws.block_rolls[i]
            h = roll_moved(h, roll, TOKEN_DIMS)
            total_roll = [a + r for a, r in zip(total_roll, roll)]
            block_ckpt = use_checkpoint and freq > 0 and i % freq == 0
            mix = None if time_mixing is None else partial(time_mixing, i)
            if newest_only and mix is None and i == len(self.blocks) - 1:
                mix = _newest_query_time_mixing
            h = block(h, _on(draws.time_keep[i], h), _on(draws.space_keep[i], h), block_ckpt, mix)
        h = roll_moved(h, [-r for r in total_roll], TOKEN_DIMS)
        return h.permute(0, 1, 5, 2, 3, 4).contiguous()

    def decode(self, h: torch.Tensor, field_ids: torch.Tensor, plans: tuple[AxisPlan, ...], draws: Draws,
               use_checkpoint: bool = False) -> torch.Tensor:
        """Tokens (T, B, hidden, h, w, d) -> normalised deltas (T, B, C, H, W, D), jitter undone."""
        geo = token_geometry(plans)
        t, b = h.shape[:2]

        def decode(v: torch.Tensor) -> torch.Tensor:
            return self.debed[geo.dim_key](v.flatten(0, 1), field_ids, geo.strides1, geo.strides2,
                                          geo.periodic).unflatten(0, (t, b))

        y = checkpoint(decode, h, use_reentrant=False) if use_checkpoint else decode(h)
        if self.keep_all_parameters_in_graph:
            other = "3" if geo.dim_key == "2" else "2"
            unused = [*self.embed[other].parameters(), *self.debed[other].parameters()]
            y = y + 0.0 * sum(p.sum() for p in unused)
        return unjitter(y, plans, draws.patch_shifts)


def _is_integer_dtype(dtype: torch.dtype) -> bool:
    return dtype in (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)


def check_tokens_per_axis(value) -> int:
    """A token budget per axis: a positive whole number (bool, floats with a fraction, zero refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or not 1 <= value <= 4096:
        raise WalrusInputError("bad token budget", field="tokens_per_axis", expected="a whole number from 1 to 4096",
                               received=repr(value))
    return int(value)


def check_dimensionality(spatial_shape: Sequence[int]) -> None:
    """Refuse spatial shapes the network has no encoder for (fewer than 2 or more than 3 extended axes)."""
    extended = sum(1 for n in spatial_shape if n > 1)
    if extended not in (2, 3):
        raise WalrusInputError(
            f"x: unsupported dimensionality: Walrus has encoders for 2-D and 3-D data, got "
            f"{extended} axes longer than one cell (spatial shape {tuple(spatial_shape)})"
        )


def _newest_query_time_mixing(attention: AxialTimeAttention, h: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
    """The time step with the newest query alone (the last block of a `newest_only` pass)."""
    return attention(h, keep, newest_only=True)


def _on(keep: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor | None:
    return None if keep is None else keep.to(like.device)
