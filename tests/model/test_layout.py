"""The network has the release's module names, shapes and parameter count (ARCHITECTURE.md §2-3)."""

import pytest
import torch

import walrus
from walrus.model import RELEASE_FIELD_NAMES, WalrusConfig


def release_layout(hidden=1408, inner=352, n_states=67, blocks=40, head_dim=88, heads=16, n_freqs=11):
    """The state-dict layout of walrus.pt, transcribed from ARCHITECTURE.md §3."""
    layout = {"encoder_dummy": (1,)}
    for k in ("2", "3"):
        layout |= {
            f"embed.{k}.proj1.weight": (inner, n_states, 8, 8, 8),
            f"embed.{k}.norm1.weight": (inner,),
            f"embed.{k}.proj2.weight": (hidden, inner, 4, 4, 4),
            f"embed.{k}.norm2.weight": (hidden,),
            f"debed.{k}.proj1.weight": (hidden, inner, 4, 4, 4),
            f"debed.{k}.norm1.weight": (inner,),
            f"debed.{k}.proj2.weight": (inner, n_states, 8, 8, 8),
            f"debed.{k}.proj2.bias": (n_states,),
        }
    for i in range(blocks):
        s, t = f"blocks.{i}.space_mixing", f"blocks.{i}.time_mixing"
        layout |= {
            f"{s}.norm1.weight": (hidden,),
            f"{s}.fused_ff_qkv.weight": (7 * hidden, hidden), f"{s}.fused_ff_qkv.bias": (7 * hidden,),
            f"{s}.ff_out.weight": (hidden, 2 * hidden), f"{s}.ff_out.bias": (hidden,),
            f"{s}.attn_out.weight": (hidden, hidden),
            f"{s}.q_norm.weight": (head_dim,), f"{s}.q_norm.bias": (head_dim,),
            f"{s}.k_norm.weight": (head_dim,), f"{s}.k_norm.bias": (head_dim,),
            f"{s}.rotary_emb.freqs": (n_freqs,),
            f"{t}.norm1.weight": (hidden,),
            f"{t}.input_head.weight": (3 * hidden, hidden, 1, 1, 1), f"{t}.input_head.bias": (3 * hidden,),
            f"{t}.output_head.weight": (hidden, hidden, 1, 1, 1), f"{t}.output_head.bias": (hidden,),
            f"{t}.qnorm.weight": (head_dim,), f"{t}.qnorm.bias": (head_dim,),
            f"{t}.knorm.weight": (head_dim,), f"{t}.knorm.bias": (head_dim,),
            f"{t}.rel_pos_bias.relative_attention_bias.weight": (32, heads),
        }
    return layout


def test_full_preset_has_release_keys_shapes_and_count():
    model = walrus.get_model("walrus-1.3b", meta=True)
    got = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert got == release_layout()
    assert sum(p.numel() for p in model.parameters()) == 1_286_199_047
    assert sum(b.numel() for b in model.buffers()) == 440
    assert model.config.field_names == RELEASE_FIELD_NAMES


def test_component_counts_match_the_release_table():
    model = walrus.get_model("walrus-1.3b", meta=True)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(model.embed["2"]) == 43_796_192
    assert count(model.debed["3"]) == 43_794_851
    assert count(model.blocks[0].space_mixing) == 19_837_664
    assert count(model.blocks[0].time_mixing) == 7_937_760


def test_tiny_release_dump_layout_and_count():
    config = walrus.get_preset("walrus-tiny").config.replace(field_names=RELEASE_FIELD_NAMES[:10])
    with torch.device("meta"):
        model = walrus.Walrus(config)
    got = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert got == release_layout(hidden=64, inner=16, n_states=10, blocks=2, head_dim=16, heads=4, n_freqs=2)
    assert sum(p.numel() for p in model.parameters()) == 707_029


def test_strict_load_of_release_layout_and_refusal_of_fork_layout():
    sd = {k: torch.empty(v, device="meta") for k, v in release_layout().items()}
    model = walrus.get_model("walrus-1.3b", meta=True)
    model.load_state_dict(sd, strict=True, assign=True)
    fork = dict(sd, **{"space_bag.linear.weight": torch.empty(48, 67, device="meta")})
    with pytest.raises(RuntimeError, match="space_bag"):
        model.load_state_dict(fork, strict=True, assign=True)


def test_rope_frequencies_are_the_release_values():
    model = walrus.get_model("walrus-tiny")
    freqs = model.blocks[0].space_mixing.rotary_emb.freqs
    full = walrus.get_model("walrus-1.3b", meta=True).blocks[0].space_mixing.rotary_emb
    assert full.freqs.shape == (11,) and full.rotated_dims == 66
    torch.testing.assert_close(freqs, torch.linspace(1, 128, 2) * torch.pi)


def test_residual_outputs_start_near_zero_as_in_the_release():
    model = walrus.get_model("walrus-tiny")
    for block in model.blocks:
        assert block.space_mixing.ff_out.weight.abs().max() < 1e-5
        assert block.space_mixing.attn_out.weight.abs().max() < 1e-5
        assert block.time_mixing.output_head.weight.abs().max() < 1e-5
    assert model.embed["2"].proj1.weight.abs().max() > 1e-3


@pytest.mark.parametrize("name", walrus.list_models())
def test_presets_build_and_list(name):
    model = walrus.get_model(name, meta=True)
    assert model.config == walrus.get_preset(name).config
    assert set(walrus.list_models()) >= {"walrus-1.3b", "walrus-half", "walrus-small", "walrus-tiny"}


def test_unknown_preset_names_the_known_ones():
    with pytest.raises(KeyError, match="walrus-1.3b"):
        walrus.get_model("walrus-huge")


def test_config_rejects_inconsistent_sizes():
    with pytest.raises(ValueError, match="divisible"):
        WalrusConfig(hidden_dim=100, n_heads=16)
    with pytest.raises(ValueError, match="RoPE"):
        WalrusConfig(hidden_dim=16, n_heads=2, groups=2, intermediate_dim=8)
