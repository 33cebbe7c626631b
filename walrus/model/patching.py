"""How each spatial axis is cut into tokens: stride choice, padding and jitter ranges.

The release picks a stride pair (s1, s2) per axis from a fixed table keyed by
`size // tokens_per_axis` (ARCHITECTURE.md §1 step 2) and fails on sizes outside it. We keep that
table as the first choice, so the release's sizes give exactly the release's token grid, and fall
back to the nearest stride pair for any other size (extra zero padding on non-periodic axes,
a stride product that divides the size on periodic ones).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from walrus.boundaries import BOUNDARY_NAMES, OPEN, PERIODIC, WALL  # noqa: F401  (re-exported)
from walrus.errors import UnsupportedGridError  # noqa: F401  (re-exported; a WalrusError/ShapeError)

RELEASE_STRIDE_TABLE: dict[int, tuple[int, int]] = {
    0: (1, 1), 1: (1, 1), 4: (2, 2), 8: (4, 2), 12: (6, 2), 16: (4, 4), 24: (6, 4), 32: (8, 4),
}
_RELEASE_PAIRS = frozenset(RELEASE_STRIDE_TABLE.values())
# Off-table sizes may also use these pairs (first stride at most the kernel 8, second at most 4);
# e.g. a 64-cell 2-D axis gets (2, 1) -> 32 tokens, the release's target.
_CANDIDATE_STRIDES = sorted({(s1, s2) for s1 in (1, 2, 4, 6, 8) for s2 in (1, 2, 4)} | _RELEASE_PAIRS)


@dataclass(frozen=True)
class AxisPlan:
    """Everything the jitterer, encoder and decoder need to know about one spatial axis."""

    size: int
    strides: tuple[int, int]
    bc: tuple[int, int]
    const_pad: tuple[int, int]  # zero padding before/after (non-periodic axes)
    circ_pad: int               # circular padding on each side (periodic axes)
    max_shift: int              # jitter roll drawn from [-max_shift, max_shift]; 0 means no roll
    n_tokens: int

    @property
    def singleton(self) -> bool:
        return self.size == 1

    @property
    def periodic(self) -> bool:
        return self.bc[0] == PERIODIC

    @property
    def patch_size(self) -> int:
        return self.strides[0] * self.strides[1]

    @property
    def padded_size(self) -> int:
        return self.size + sum(self.const_pad) + 2 * self.circ_pad


def tokens_target(spatial_shape: tuple[int, ...], per_axis_2d: int = 32, per_axis_3d: int = 16) -> int:
    """Tokens per axis the release aims for: 32 for data with at most 2 extended axes, 16 for 3-D."""
    n_extended = sum(1 for n in spatial_shape if n > 1)
    return per_axis_2d if n_extended <= 2 else per_axis_3d


def choose_strides(size: int, target: int, periodic: bool, release_only: bool = False) -> tuple[int, int]:
    """Stride pair for one axis: the release's table where it applies exactly, else the nearest pair."""
    pair = RELEASE_STRIDE_TABLE.get(size // target)
    if pair is not None and size % (pair[0] * pair[1]) == 0:
        return pair
    if release_only:
        raise UnsupportedGridError(
            f"axis of {size} cells is not in the release's stride table", field="x",
            expected=f"a size with size // {target} among {sorted(RELEASE_STRIDE_TABLE)} dividing its stride product",
            received=f"{size} cells (size // {target} = {size // target})",
            hint="build the model with release_strides=False to allow any size")
    candidates = [s for s in _CANDIDATE_STRIDES if not periodic or size % (s[0] * s[1]) == 0]

    def score(s: tuple[int, int]) -> tuple[float, bool, int, int]:
        tokens = math.ceil(size / (s[0] * s[1]))
        return round(abs(math.log(tokens / target)), 9), s not in _RELEASE_PAIRS, -tokens, -s[0]

    return min(candidates, key=score)


def _conv_out(n: int, kernel: int, stride: int) -> int:
    return (n - kernel) // stride + 1


def plan_axis(size: int, bc: tuple[int, int], target: int, kernels: tuple[int, int], jitter: bool,
              release_only: bool = False) -> AxisPlan:
    if size < 1:
        raise UnsupportedGridError("empty spatial axis", field="x", expected="at least one cell per axis",
                                   received=f"{size} cells")
    if size == 1:
        return AxisPlan(1, (1, 1), bc, (0, 0), 0, 0, 1)
    periodic = bc[0] == PERIODIC
    s1, s2 = choose_strides(size, target, periodic, release_only)
    k1, k2 = kernels
    eff_kernel = k1 + s1 * (k2 - 1)
    eff_stride = s1 * s2
    extra = (eff_kernel - eff_stride) // 2
    if periodic:
        const_pad, circ_pad = (0, 0), extra
        max_shift = size // 2 - 1 if jitter and eff_stride > 1 else 0
    else:
        base = extra + (eff_stride // 2 if jitter else 0)
        remainder = (-size) % eff_stride  # only outside the release's table
        const_pad = (base + remainder // 2, base + remainder - remainder // 2)
        circ_pad = 0
        max_shift = base - 1 if jitter and eff_stride > 1 else 0
    padded = size + sum(const_pad) + 2 * circ_pad
    n_tokens = _conv_out(_conv_out(padded, k1, s1), k2, s2)
    return AxisPlan(size, (s1, s2), bc, const_pad, circ_pad, max(max_shift, 0), n_tokens)


def plan_axes(spatial_shape: tuple[int, int, int], bcs: tuple[tuple[int, int], ...], kernels: tuple[int, int],
              jitter: bool, per_axis_2d: int = 32, per_axis_3d: int = 16,
              release_only: bool = False) -> tuple[AxisPlan, ...]:
    """Plan the three spatial axes of a (lifted) input."""
    target = tokens_target(spatial_shape, per_axis_2d, per_axis_3d)
    return tuple(plan_axis(n, tuple(bc), target, kernels, jitter, release_only)
                 for n, bc in zip(spatial_shape, bcs))


@dataclass(frozen=True)
class TokenGeometry:
    """What the encoder/decoder pair needs from a plan: which pair, strides per axis, periodic axes."""

    dim_key: str                      # "2" or "3": the number of axes longer than one cell
    strides1: tuple[int, int, int]
    strides2: tuple[int, int, int]
    periodic: tuple[bool, bool, bool]


def token_geometry(plans: tuple[AxisPlan, ...]) -> TokenGeometry:
    return TokenGeometry(str(sum(1 for p in plans if not p.singleton)), tuple(p.strides[0] for p in plans),
                         tuple(p.strides[1] for p in plans), tuple(p.periodic for p in plans))
