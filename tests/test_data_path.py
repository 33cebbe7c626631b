"""One data path: training and inference build the same channels, slots, transforms and masks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import walrus
from walrus.data import augment
from walrus.errors import FieldError
from walrus.hooks import FieldSpec, hookimpl
from walrus.layout import build_layout
from walrus.model.checkpoint import extend_vocabulary
from walrus.model.vocabulary import RELEASE_FIELD_NAMES
from walrus.plugins import get_registry, register, unregister
from walrus.state import State
from walrus.train.loss import delta_l1_loss
from walrus.model.normalization import rms_stats


def tiny(**kw):
    return walrus.get_model("walrus-tiny", **kw).eval()


class _Recorder:
    """Records what the network is called with (a forward pre-hook)."""

    def __init__(self, model):
        self.calls = []
        self.handle = model.register_forward_pre_hook(self, with_kwargs=True)

    def __call__(self, module, args, kwargs):
        self.calls.append((args[0].detach().clone(), torch.as_tensor(args[1]).clone()))


# --------------------------------------------------------------------------------------------
# Training and Surrogate.step see the same channels (a dataset with a transform: acoustics)
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def acoustics(tmp_path_factory):
    from walrus.data.generators.pipeline import generate_dataset

    return generate_dataset("acoustics_inclusions_pyclaw", tmp_path_factory.mktemp("ac"), n_traj=3, res=16,
                            steps=10, seed=0, progress=False)


def test_training_and_surrogate_feed_the_network_the_same_channels_and_slots(acoustics, tmp_path):
    from walrus.data.well_dataset import WellWindowDataset
    from walrus.io import read_well_file
    from walrus.train import TrainConfig, Trainer
    from walrus.train.batching import collate

    cfg = TrainConfig(datasets=[{"name": "acoustics_inclusions_pyclaw", "path": str(acoustics)}],
                      out_dir=str(tmp_path / "run"), history_2d=3, epochs=1, steps_per_epoch=3, warmup_epochs=0,
                      cooldown_epochs=0, validate_every=0, progress=False, augment=False, max_dt_stride=1)
    trainer = Trainer(cfg)
    recorder = _Recorder(trainer.model)
    trainer.fit()
    member = trainer.corpus[0]
    _, train_ids = recorder.calls[0]
    slot = RELEASE_FIELD_NAMES.index
    assert train_ids.tolist() == [slot(n) for n in ("pressure", "velocity_x", "velocity_y", "velocity_z",
                                                     "zeros_like_density", "speed_of_sound")]

    # the first training window of the first training file, by hand, through the Surrogate
    window = WellWindowDataset(acoustics, split="train", n_steps_input=3, n_steps_output=1)
    batch = collate([window[0]], member.layout)
    ds = read_well_file(window.files[0].path).isel(sample=0, time=slice(0, 3))
    state = State.from_dataset(ds)
    assert "density" in state.constant_fields  # the raw, stored field
    model = trainer.model.eval()
    sur = walrus.Surrogate(model, dataset="acoustics_inclusions_pyclaw", seed=0, history=3)
    recorder.calls.clear()
    sur.step(state)
    x_inf, ids_inf = recorder.calls[0]
    assert ids_inf.tolist() == train_ids.tolist()
    stats = rms_stats(batch.x)  # the network sees normalised inputs; compare them
    torch.testing.assert_close(x_inf, batch.x / stats.scale, rtol=1e-5, atol=1e-6)
    recorder.handle.remove()

    # without the dataset's transforms the density goes to another slot: the mismatch is visible
    plain = state.to_model_inputs(model.config.field_names)
    assert plain.field_ids.tolist()[4] == slot("density") != train_ids.tolist()[4]


def test_inverse_layout_undoes_a_log10_transform():
    rng = np.random.default_rng(0)
    s = State(fields={"density": rng.uniform(1, 5, (2, 4, 4)), "velocity": rng.normal(size=(2, 4, 4, 2))},
              time=[0.0, 0.1], coords={"x": np.arange(4.0), "y": np.arange(4.0)}, boundaries={"x": "PERIODIC", "y": "WALL"})
    mi = s.to_model_inputs(RELEASE_FIELD_NAMES, transforms={"density": "log10_density"}, dtype=torch.float64)
    assert mi.channel_names[0] == "log10_density"
    np.testing.assert_allclose(mi.x[:, 0, 0, :, :, 0].numpy(), np.log10(s.fields["density"]))
    back = s.from_model_tensor(mi.x, layout=mi.layout)
    np.testing.assert_allclose(back.fields["density"], s.fields["density"], rtol=1e-12)
    np.testing.assert_allclose(back.fields["velocity"], s.fields["velocity"], rtol=1e-12)


# --------------------------------------------------------------------------------------------
# Slots come from the checkpoint's vocabulary, whatever plugins the process has loaded
# --------------------------------------------------------------------------------------------

def _fields_plugin(*names):
    class Plugin:
        @hookimpl
        def walrus_fields(self):
            return [FieldSpec(n, 0, "1", None, "a test field") for n in names]

    return Plugin()


def test_extended_vocabulary_predicts_the_same_whatever_plugins_are_loaded(tmp_path):
    torch.manual_seed(0)
    model = extend_vocabulary(tiny(), ["vorticity", "salinity"])
    with torch.no_grad():  # make the new encoder columns differ, so a wrong column shows
        for name, p in model.named_parameters():
            if name.startswith("embed.") and name.endswith("proj1.weight"):
                p[:, -2:].normal_()
    path = walrus.save_checkpoint(model, tmp_path / "extended.safetensors", preset="walrus-tiny")
    rng = np.random.default_rng(1)
    data = {"fields": {"vorticity": rng.normal(size=(6, 16, 16)), "pressure": rng.normal(size=(6, 16, 16))},
            "time": np.arange(6.0), "coords": {"x": np.arange(16.0), "y": np.arange(16.0)},
            "boundaries": {"x": "PERIODIC", "y": "PERIODIC"}}
    predictions = []
    for order in (("vorticity", "salinity"), ("salinity", "vorticity"), ("tracer_b", "salinity", "vorticity")):
        name = register(_fields_plugin(*order), name="vocab-order")
        try:
            assert get_registry().fieldset.id("vorticity") == 67 + order.index("vorticity")
            sur = walrus.Surrogate.from_pretrained(str(path), seed=0)
            predictions.append(sur.step(State(**data)).fields["vorticity"][-1])
        finally:
            unregister(name=name)
    np.testing.assert_array_equal(predictions[0], predictions[1])
    np.testing.assert_array_equal(predictions[0], predictions[2])


def test_a_field_the_checkpoint_does_not_know_is_refused_by_name():
    name = register(_fields_plugin("vorticity"), name="vorticity-plugin")
    try:
        s = State(fields={"vorticity": np.zeros((6, 8, 8))}, time=np.arange(6.0),
                  coords={"x": np.arange(8.0), "y": np.arange(8.0)}, boundaries={"x": "PERIODIC", "y": "PERIODIC"})
        with pytest.raises(FieldError, match="vorticity") as err:
            walrus.Surrogate(tiny()).step(s)
        assert "not in the model's vocabulary" in str(err.value) and "velocity_x" in str(err.value)
    finally:
        unregister(name=name)


def test_registry_fieldset_leaves_nothing_behind():
    before = get_registry().fieldset
    name = register(_fields_plugin("tracer_q"), name="leaves-nothing")
    assert "tracer_q" in get_registry().fieldset
    unregister(name=name)
    assert "tracer_q" not in get_registry().fieldset and len(get_registry().fieldset) == len(before)


# --------------------------------------------------------------------------------------------
# The obstacle mask: zero inside, in Surrogate.step and in the loss
# --------------------------------------------------------------------------------------------

def _masked_state():
    rng = np.random.default_rng(2)
    mask = np.zeros((16, 16))
    mask[4:9, 6:12] = 1.0
    return State(fields={"pressure": rng.normal(size=(6, 16, 16)) + 3, "velocity": rng.normal(size=(6, 16, 16, 2))},
                 constant_fields={"mask": mask}, time=np.arange(6.0),
                 coords={"x": np.arange(16.0), "y": np.arange(16.0)}, boundaries={"x": "WALL", "y": "OPEN"}), mask


def test_surrogate_predicts_nothing_inside_the_mask():
    s, mask = _masked_state()
    out = walrus.Surrogate(tiny(), seed=0).step(s)
    inside = mask.astype(bool)
    assert np.all(out.fields["pressure"][-1][inside] == 0) and np.all(out.fields["velocity"][-1][inside] == 0)
    assert np.all(out.fields["pressure"][-1][~inside] != 0)
    mi = s.to_model_inputs(RELEASE_FIELD_NAMES)
    assert torch.equal(mi.inside_mask[0, :, :, 0], torch.as_tensor(inside))


def test_loss_ignores_errors_inside_the_mask():
    s, mask = _masked_state()
    mi = s.to_model_inputs(RELEASE_FIELD_NAMES)
    n = mi.n_variable
    x, future = mi.x[:-1], mi.x[-1:, :, :n]
    stats = rms_stats(x)
    pred = torch.zeros_like(x[:, :, :n])
    base = delta_l1_loss(pred, x[:, :, :n], future, stats, mi.padded_field_mask, inside_mask=mi.inside_mask)
    junk = pred.clone()
    junk[:, :, :, 4:9, 6:12] = 50.0
    assert delta_l1_loss(junk, x[:, :, :n], future, stats, mi.padded_field_mask, inside_mask=mi.inside_mask) == base
    assert delta_l1_loss(junk, x[:, :, :n], future, stats, mi.padded_field_mask) != base  # without the mask it counts


# --------------------------------------------------------------------------------------------
# Tensor laws: rotate-then-predict equals predict-then-rotate for every registered field
# --------------------------------------------------------------------------------------------

def _diffuse(x: torch.Tensor) -> torch.Tensor:
    """An equivariant stand-in for the network: one explicit periodic diffusion step per channel."""
    last = x[-1]
    lap = sum(torch.roll(last, s, d) for d in (2, 3, 4) for s in (1, -1)) - 6 * last
    return (last + 0.1 * lap).unsqueeze(0)


def _predict(state: State) -> State:
    mi = state.to_model_inputs(state.fieldset.vocabulary, dtype=torch.float64)
    return state.from_model_tensor(_diffuse(mi.x)[:, :, : mi.n_variable], time=[1.0], layout=mi.layout)


@pytest.mark.parametrize("field", sorted(get_registry().fields))
def test_rotate_then_predict_equals_predict_then_rotate(field):
    registry = get_registry()
    spec = registry.fields[field]
    rng = np.random.default_rng(abs(hash(field)) % 2**32)
    axes = ("x", "y", "z")
    shape = (1, 4, 5, 6) + (3,) * spec.rank  # unequal sides: a wrong axis permutation cannot hide
    state = State(fields={field: rng.uniform(0.5, 2.0, shape)}, time=[0.0], coords={a: np.arange(n * 1.0)
                  for a, n in zip(axes, shape[1:4])}, boundaries={a: "PERIODIC" for a in axes})
    rules = augment.registry_rules([field], registry)
    for r in augment.symmetry_group(3)[::5]:  # rotations and reflections
        moved, _ = augment.augment(state.fields, r, rules)
        coords = {a: np.arange(n * 1.0) for a, n in zip(axes, moved[field].shape[1:4])}
        rotated = State(fields=moved, time=[0.0], coords=coords, boundaries={a: "PERIODIC" for a in axes})
        a = _predict(rotated).fields[field]
        b, _ = augment.augment(_predict(state).fields, r, rules)
        np.testing.assert_allclose(a, b[field], rtol=1e-12, atol=1e-12)


def test_trainer_reflections_follow_a_magnetic_field_pseudo_vector_law(tmp_path):
    from walrus.io import write_dataset_stats, write_well_file
    from walrus.train import TrainConfig, Trainer
    from walrus.train.batching import collate

    rng = np.random.default_rng(3)
    coords = np.arange(8.0)
    for split in ("train", "valid"):
        write_well_file(tmp_path / "mhd" / "data" / split / "mhd.hdf5", dataset_name="mhd",
                        dimensions={"x": coords, "y": coords}, time=np.arange(6.0),
                        fields={"velocity": rng.normal(size=(1, 6, 8, 8, 2)),
                                "magnetic_field": rng.normal(size=(1, 6, 8, 8, 2))},
                        boundary_conditions={"x": "PERIODIC", "y": "WALL"})
    write_dataset_stats(tmp_path / "mhd")
    cfg = TrainConfig(datasets=[{"name": "mhd", "path": str(tmp_path / "mhd")}], out_dir=str(tmp_path / "run"),
                      history_2d=3, epochs=1, steps_per_epoch=40, warmup_epochs=0, cooldown_epochs=0, progress=False,
                      augment_reflections=True,
                      max_dt_stride=1)
    trainer = Trainer(cfg)
    member = trainer.corpus[0]
    assert member.rules["magnetic_field"].pseudo and not member.rules["velocity"].pseudo
    seen_reflection = False
    for _, draw in trainer.sampler.epoch(0):
        r = augment.random_element(3, np.random.default_rng(draw.stride_seed + 1), reflections=True)
        got = trainer.micro_batch(draw)
        plain = collate([member.train[i] for i in draw.indices], member.layout)
        det = round(np.linalg.det(r))
        for field, factor in (("velocity", 1), ("magnetic_field", det)):
            idx = member.layout.field_channels(field, False)
            v = plain.x[:, :, idx].movedim(2, -1)            # (T, B, H, W, D, 3)
            v = augment.move_grid(v, r, rank=1)
            expected = factor * torch.einsum("jk,...k->...j", torch.as_tensor(r, dtype=v.dtype), v)
            torch.testing.assert_close(got.x[:, :, idx].movedim(2, -1), expected)
        if det < 0:
            seen_reflection = True
            break
    assert seen_reflection


def test_non_cartesian_grids_are_not_rotated(tmp_path):
    from walrus.io import write_dataset_stats, write_well_file
    from walrus.train import TrainConfig, Trainer
    from walrus.train.batching import collate

    rng = np.random.default_rng(4)
    for split in ("train", "valid"):
        write_well_file(tmp_path / "sph" / "data" / split / "sph.hdf5", dataset_name="sph",
                        dimensions={"theta": np.linspace(0.1, 3.0, 8), "phi": np.linspace(0, 6.0, 8)},
                        time=np.arange(6.0), fields={"density": rng.uniform(1, 2, size=(1, 6, 8, 8))},
                        boundary_conditions={"theta": "OPEN", "phi": "PERIODIC"}, grid_type="equiangular")
    write_dataset_stats(tmp_path / "sph")
    cfg = TrainConfig(datasets=[{"name": "sph", "path": str(tmp_path / "sph")}], out_dir=str(tmp_path / "run"),
                      history_2d=3, epochs=1, steps_per_epoch=4, warmup_epochs=0, cooldown_epochs=0, progress=False,
                      max_dt_stride=1)
    trainer = Trainer(cfg)
    assert trainer.corpus[0].rules is None
    for _, draw in trainer.sampler.epoch(0):
        plain = collate([trainer.corpus[0].train[i] for i in draw.indices], trainer.corpus[0].layout)
        assert torch.equal(trainer.micro_batch(draw).x, plain.x)


def test_layout_names_the_stored_channel_of_every_lifted_component():
    layout = build_layout([("velocity", 1, False), ("C", 2, False), ("mask", 0, True)], ("x", "y"), RELEASE_FIELD_NAMES)
    assert layout.names[:4] == ("velocity_x", "velocity_y", "velocity_z", "C_xx")
    assert [c.source for c in layout.channels[:3]] == [0, 1, -1]
    assert [c.source for c in layout.channels[3:12]] == [2, 3, -1, 4, 5, -1, -1, -1, -1]
    assert layout.mask_channel == 12 and layout.n_variable == 12
