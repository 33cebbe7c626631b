"""Layer maths against reference computations written out from ARCHITECTURE.md."""

import math

import pytest
import torch

from walrus.model.hmlp import StrideModulatedDecoder, StrideModulatedEncoder, _periodic_conv_transpose
from walrus.model.norms import RMSGroupNorm
from walrus.model.space_attention import FullAttention
from walrus.model.time_attention import AxialTimeAttention, t5_causal_bucket

from model_helpers import redraw_weights


@pytest.mark.parametrize("groups", [1, 4, 8])
def test_rms_group_norm_is_a_per_channel_spatial_rms(groups):
    torch.manual_seed(0)
    norm = RMSGroupNorm(groups, 8)
    with torch.no_grad():
        norm.weight.copy_(torch.linspace(0.5, 2.0, 8))
    x = torch.randn(3, 8, 5, 6, 2) * torch.linspace(0.1, 10, 8).view(1, 8, 1, 1, 1)
    eps = torch.finfo(torch.float32).eps
    ref = x / (x.pow(2).mean((2, 3, 4), keepdim=True) + eps).sqrt() * norm.weight.view(1, 8, 1, 1, 1)
    # equal up to float32 round-off (reductions in another order; margin for another CPU's kernels)
    torch.testing.assert_close(norm(x), ref, rtol=1e-4, atol=1e-5)


def test_rms_group_norm_eps_is_the_dtype_epsilon():
    x = torch.zeros(1, 2, 4, 4, 1)
    x[0, 0, 0, 0, 0] = 1e-4  # mean square 6.25e-10, far below 1e-6 but above float32 eps? no: eps dominates
    y = RMSGroupNorm(1, 2)(x)
    expected = 1e-4 / math.sqrt(1e-8 / 16 + torch.finfo(torch.float32).eps)
    assert y[0, 0, 0, 0, 0].item() == pytest.approx(expected, rel=1e-4)


def test_t5_buckets_exact_then_log_spaced_to_32():
    n = torch.arange(0, 40)
    b = t5_causal_bucket(n)
    assert b[:16].tolist() == list(range(16))
    for d in range(16, 40):
        expected = min(31, 16 + int(math.log(d / 16) / math.log(32 / 16) * 16))
        assert b[d].item() == expected
    assert t5_causal_bucket(torch.tensor([-3])).item() == 0  # future keys clamp to 0 (masked anyway)


def reference_time_attention(m: AxialTimeAttention, x: torch.Tensor) -> torch.Tensor:
    """Explicit loops: interleaved per-head qkv, LayerNorm QK, causal T5 bias, softmax."""
    t, b, c, h, w, d = x.shape
    heads, hd = m.n_heads, m.head_dim
    z = m.norm1(x.reshape(t * b, c, h, w, d))
    qkv = torch.einsum("oc,ncxyz->noxyz", m.input_head.weight[:, :, 0, 0, 0], z) + m.input_head.bias.view(1, -1, 1, 1, 1)
    qkv = qkv.reshape(t, b, heads, 3 * hd, h, w, d)
    out = torch.zeros(t, b, heads, hd, h, w, d)
    table = m.rel_pos_bias.relative_attention_bias.weight
    for bi in range(b):
        for he in range(heads):
            for i, j, k in [(i, j, k) for i in range(h) for j in range(w) for k in range(d)]:
                seq = qkv[:, bi, he, :, i, j, k]  # (t, 3*hd): [q | k | v] of this head
                q = torch.nn.functional.layer_norm(seq[:, :hd], (hd,), m.qnorm.weight, m.qnorm.bias)
                kk = torch.nn.functional.layer_norm(seq[:, hd:2 * hd], (hd,), m.knorm.weight, m.knorm.bias)
                v = seq[:, 2 * hd:]
                scores = q @ kk.T / math.sqrt(hd)
                for qi in range(t):
                    for ki in range(t):
                        scores[qi, ki] = scores[qi, ki] + table[min(qi - ki, 15) if qi >= ki else 0, he] \
                            if qi >= ki else float("-inf")
                out[:, bi, he, :, i, j, k] = torch.softmax(scores, -1) @ v
    out = out.reshape(t * b, c, h, w, d)
    y = torch.einsum("oc,ncxyz->noxyz", m.output_head.weight[:, :, 0, 0, 0], out) + m.output_head.bias.view(1, -1, 1, 1, 1)
    return x + y.reshape(t, b, c, h, w, d)


def test_time_attention_matches_reference():
    m = redraw_weights(AxialTimeAttention(16, 2, 2), std=0.2)
    x = torch.randn(4, 2, 16, 2, 3, 1)
    # the module works on the blocks' channels-last tokens (T, B, h, w, d, C)
    got = m(x.movedim(2, -1)).movedim(-1, 2)
    torch.testing.assert_close(got, reference_time_attention(m, x), rtol=1e-4, atol=1e-5)


def reference_space_attention(m: FullAttention, x: torch.Tensor) -> torch.Tensor:
    """Explicit: parallel attention + SwiGLU (value = first half), axial RoPE on adjacent pairs."""
    n, c, h, w, d = x.shape
    heads, hd = m.n_heads, m.head_dim
    z = m.norm1(x).permute(0, 2, 3, 4, 1).reshape(n, h * w * d, c)
    fused = z @ m.fused_ff_qkv.weight.T + m.fused_ff_qkv.bias
    ff, q, k, v = fused[..., :4 * c], fused[..., 4 * c:5 * c], fused[..., 5 * c:6 * c], fused[..., 6 * c:]
    freqs = m.rotary_emb.freqs
    coords = [torch.linspace(-1, 1, s) for s in (h, w, d)]
    positions = torch.stack(torch.meshgrid(*coords, indexing="ij"), -1).reshape(-1, 3)  # (L, 3)

    def rope(vec):  # vec: (L, hd)
        vec = vec.clone()
        for tok in range(vec.shape[0]):
            dim = 0
            for axis in range(3):
                for f in freqs:
                    a = positions[tok, axis] * f
                    x0, x1 = vec[tok, dim].clone(), vec[tok, dim + 1].clone()
                    vec[tok, dim] = x0 * torch.cos(a) - x1 * torch.sin(a)
                    vec[tok, dim + 1] = x1 * torch.cos(a) + x0 * torch.sin(a)
                    dim += 2
        return vec

    att = torch.zeros(n, h * w * d, c)
    for b in range(n):
        for he in range(heads):
            sl = slice(he * hd, (he + 1) * hd)
            qh = rope(torch.nn.functional.layer_norm(q[b, :, sl], (hd,), m.q_norm.weight, m.q_norm.bias))
            kh = rope(torch.nn.functional.layer_norm(k[b, :, sl], (hd,), m.k_norm.weight, m.k_norm.bias))
            att[b, :, sl] = torch.softmax(qh @ kh.T / math.sqrt(hd), -1) @ v[b, :, sl]
    value, gate = ff[..., :2 * c], ff[..., 2 * c:]
    y = att @ m.attn_out.weight.T + (torch.nn.functional.silu(gate) * value) @ m.ff_out.weight.T + m.ff_out.bias
    return x + y.reshape(n, h, w, d, c).permute(0, 4, 1, 2, 3)


@pytest.mark.parametrize("grid", [(3, 2, 1), (2, 2, 2)])
def test_space_attention_matches_reference(grid):
    m = redraw_weights(FullAttention(32, 2, 2), std=0.15)
    x = torch.randn(2, 32, *grid)
    got = m(x.movedim(1, -1)).movedim(-1, 1)  # channels-last tokens (N, h, w, d, C)
    torch.testing.assert_close(got, reference_space_attention(m, x), rtol=1e-4, atol=1e-5)


def test_encoder_selects_columns_rescales_and_sums_singleton_axes():
    torch.manual_seed(0)
    enc = redraw_weights(StrideModulatedEncoder(10, 4, 8, 2), std=0.1)
    ids = torch.tensor([5, 3])
    x = torch.randn(1, 5, 20, 20, 1)  # 2 fields + 3 flags, singleton third axis
    got = enc(x, ids, (2, 2, 1), (2, 2, 1))
    w1 = enc.proj1.weight[:, [5, 3, 2, 0, 1]].clone()
    w1[:, :3] *= math.sqrt((10 - 3) / 2)
    w1 = w1.sum(-1, keepdim=True)
    h = torch.nn.functional.conv3d(x, w1, stride=(2, 2, 1))
    h = torch.nn.functional.silu(enc.norm1(h))
    h = torch.nn.functional.conv3d(h, enc.proj2.weight.sum(-1, keepdim=True), stride=(2, 2, 1))
    torch.testing.assert_close(got, torch.nn.functional.silu(enc.norm2(h)))
    assert got.shape == (1, 8, 2, 2, 1)


@pytest.mark.parametrize("kernel, stride", [(4, 2), (8, 2), (8, 4), (8, 1), (4, 1)])
def test_periodic_transposed_conv_is_one_period_of_the_tiled_signal(kernel, stride):
    """On a periodic axis, the wrapped transposed conv equals the plain transposed conv of the
    periodically repeated tokens, read over one period."""
    torch.manual_seed(0)
    n = 5
    tokens = torch.randn(1, 3, n, 4, 1)
    weight = torch.randn(3, 2, kernel, kernel, kernel)
    bias = torch.randn(2)
    strides = (stride, stride, 1)
    got = _periodic_conv_transpose(tokens, weight, bias, strides, (True, False, True))
    assert got.shape[2] == (n - 1) * stride + kernel
    tiled = _periodic_conv_transpose(tokens.repeat(1, 1, 5, 1, 1), weight, bias, strides, (False, False, True))
    start = 2 * n * stride  # the middle of five periods, far from the tiled signal's open ends
    # equal up to float32 round-off (convolutions over differently padded inputs; margin for other CPUs)
    torch.testing.assert_close(got, tiled[:, :, start: start + got.shape[2]], rtol=1e-4, atol=1e-5)


def test_decoder_selects_field_columns_and_averages_singleton_axes():
    torch.manual_seed(0)
    dec = redraw_weights(StrideModulatedDecoder(10, 4, 8, 2), std=0.1)
    ids = torch.tensor([7, 4])
    tokens = torch.randn(2, 8, 3, 3, 1)
    got = dec(tokens, ids, (2, 2, 1), (2, 2, 1), (False, False, True))
    h = torch.nn.functional.conv_transpose3d(tokens, dec.proj1.weight.mean(-1, keepdim=True), stride=(2, 2, 1))
    h = torch.nn.functional.silu(dec.norm1(h))
    ref = torch.nn.functional.conv_transpose3d(h, dec.proj2.weight[:, [7, 4]].mean(-1, keepdim=True),
                                               dec.proj2.bias[[7, 4]], stride=(2, 2, 1))
    torch.testing.assert_close(got, ref)
    assert got.shape == (2, 2, 22, 22, 1)


@pytest.mark.parametrize("strides", [(1, 1, 1), (2, 2, 2), (4, 2, 1), (6, 1, 8), (3, 5, 7)])
@pytest.mark.parametrize("kernel", [(8, 8, 8), (4, 4, 4), (8, 4, 1)])
def test_transposed_conv_by_phases_equals_conv_transpose3d(strides, kernel):
    """The decoder's 3-D transposed convolution, computed as one ordinary convolution over the
    kernel's phases, equals torch's (strides that do and do not divide the kernel)."""
    from walrus.model.hmlp import conv_transpose3d_by_phases

    gen = torch.Generator().manual_seed(sum(strides) * 10 + kernel[0])
    x = torch.randn(2, 3, 5, 4, 3, dtype=torch.float64, generator=gen)
    w = torch.randn(3, 2, *kernel, dtype=torch.float64, generator=gen)
    b = torch.randn(2, dtype=torch.float64, generator=gen)
    want = torch.nn.functional.conv_transpose3d(x, w, b, stride=strides)
    got = conv_transpose3d_by_phases(x, w, b, strides)
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
