"""Fuzz the `walrus` command line and the training config: whatever the arguments or the YAML, the
result is a correct run, a click usage error (exit 2) or a ConfigError message (exit 2) — never a
traceback, and an accepted config always satisfies the documented ranges.

The expensive parts behind a command (the trainer, the dataset generators, the quickstart pipeline)
are replaced by stubs that record their call: argument parsing and every check stay real.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from fuzz_helpers import ContractViolation, assert_contract, examples
from walrus.cli import EXIT_BAD_INPUT, BadInput, app
from walrus.errors import ConfigError
from walrus.train import TrainConfig

runner = CliRunner()
WORK = Path(tempfile.mkdtemp(prefix="walrus_fuzz_cli_"))
DATA = WORK / "data"
DATA.mkdir()
(WORK / "a_file").write_text("not a directory")

# ---------------------------------------------------------------- values

NASTY = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-3, max_value=5), st.integers(min_value=-(2 ** 70), max_value=2 ** 70),
    st.sampled_from([0, 1, 2, 3, 6, 64, 65, 10 ** 7, 10 ** 12, 2 ** 63, -1]),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, -0.0, 1e-3, 0.5, 1.0, 1e30]),
    st.text(max_size=12), st.sampled_from(["", "auto", "cpu", "cuda:0", "cuda:x", "bf16", "fsdp", "single",
                                           "topology", "walrus-tiny", "walrus-huge", "1e3", "\x00"]),
    st.lists(st.integers(min_value=-2, max_value=8), max_size=4),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.sampled_from(["n_heads", "n_blocks", "hidden_dim", "depth", "drop_path", "field_names",
                                     "base_kernels", "salinity"]), st.one_of(st.integers(-2, 70), st.floats(),
                                                                              st.text(max_size=4)), max_size=2),
)
KEYS = [f.name for f in TrainConfig.__dataclass_fields__.values()]
DATASET_ENTRIES = st.one_of(
    st.just({"name": "waves", "path": str(DATA)}),
    st.just({"name": "shallow_water_pyclaw"}),
    st.just("shallow_water_pyclaw"),
    st.fixed_dictionaries({"name": NASTY}, optional={"path": NASTY, "train_split": NASTY, "splt": NASTY}),
    NASTY,
)


@st.composite
def config_dicts(draw):
    """A valid base config with a few keys replaced by nasty values (or unknown keys added)."""
    raw = {"datasets": [{"name": "waves", "path": str(DATA)}], "epochs": 25, "steps_per_epoch": 3}
    for key in draw(st.lists(st.sampled_from(KEYS + ["learning_rate", "lrr", "1"]), max_size=3, unique=True)):
        raw[key] = draw(NASTY)
    if draw(st.booleans()):
        raw["datasets"] = draw(st.one_of(st.lists(DATASET_ENTRIES, max_size=3), NASTY))
    if draw(st.integers(0, 9)) == 0:
        raw.pop("datasets")
    return raw


def check_accepted(raw: dict, cfg: TrainConfig) -> None:
    """An accepted config holds what it was given, within the documented ranges."""
    for key, value in raw.items():
        if key not in ("datasets", "mesh"):
            got = getattr(cfg, key)
            assert got == value or (isinstance(value, float) and math.isnan(value) and math.isnan(got)), key
    assert cfg.datasets and all(isinstance(d.name, str) and d.name for d in cfg.datasets)
    for key in ("epochs", "steps_per_epoch", "batch_size_2d", "batch_size_3d", "grad_accumulation",
                "max_dt_stride", "validation_batches", "rollout_steps"):
        value = getattr(cfg, key)
        assert isinstance(value, int) and not isinstance(value, bool) and value >= 1, key
    assert cfg.warmup_epochs + cfg.cooldown_epochs <= cfg.epochs  # the schedule stays non-negative
    for key in ("lr", "adam_eps", "grad_clip", "loss_multiplier"):
        assert math.isfinite(getattr(cfg, key)) and getattr(cfg, key) > 0, key
    assert math.isfinite(cfg.weight_decay) and cfg.weight_decay >= 0
    assert cfg.engine in ("single", "fsdp", "deepspeed") and cfg.sampling in ("topology", "naive")
    assert cfg.zero_stage in (1, 2, 3) and cfg.mixed_precision in (None, "bf16")
    assert cfg.mesh is None or (len(cfg.mesh) == 2 and min(cfg.mesh) >= 1)
    assert cfg.seed >= 0 and (cfg.max_steps is None or cfg.max_steps >= 1)
    for key in ("augment", "augment_reflections", "tensorboard", "progress", "deterministic_model"):
        assert isinstance(getattr(cfg, key), bool), key


def check_refusal(error: Exception) -> None:
    assert isinstance(error, ConfigError), type(error)
    assert error.field, f"a refusal must name the key: {error}"
    assert "expected" in str(error) or error.message, str(error)


@settings(max_examples=examples(ci=60))
@given(raw=config_dicts())
def test_fuzz_train_config_dicts(raw):
    outcome = assert_contract(lambda: TrainConfig.from_dict(dict(raw), source="fuzz.yaml"),
                              check=lambda cfg: check_accepted(raw, cfg), finite=False)
    if outcome.refused:
        check_refusal(outcome.error)
        assert "in fuzz.yaml" in str(outcome.error)


YAML_TEXT = st.one_of(
    config_dicts().map(lambda d: yaml.safe_dump(d, allow_unicode=True)),
    st.text(max_size=60),
    st.binary(max_size=60).map(lambda b: b.decode("latin-1")),
    st.sampled_from(["", "---\n", "- 1\n- 2\n", "[", "{", "a: [", "datasets: !!python/object:os.system {}\n",
                     "&a [*a]", "datasets: &x [{name: waves, path: %s}]\nfreeze: *x\n" % DATA,
                     "datasets: [{name: waves, path: %s}]\n? [a, b]\n: 1\n" % DATA, "\t\tdatasets: 1",
                     "datasets: [{name: waves, path: %s}]\nepochs: 0x10\n" % DATA]),
)


@settings(max_examples=examples(ci=40))
@given(text=YAML_TEXT, raw_bytes=st.booleans())
def test_fuzz_train_config_yaml_files(text, raw_bytes):
    path = WORK / "fuzz.yaml"
    if raw_bytes:
        path.write_bytes(text.encode("utf-8", "surrogatepass")[:200] + b"\xff")
    else:
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
    outcome = assert_contract(lambda: TrainConfig.from_yaml(path), finite=False)
    if outcome.refused:
        check_refusal(outcome.error)
    else:
        assert not raw_bytes


# ---------------------------------------------------------------- the command line


class StubTrainer:
    """Stands in for walrus.train.trainer.Trainer: records the config, trains nothing."""

    configs: list = []

    def __init__(self, cfg):
        assert isinstance(cfg, TrainConfig)
        StubTrainer.configs.append(cfg)
        self.info = type("Info", (), {"is_main": True})()
        self.log_path = Path(cfg.out_dir) / "log.jsonl"

    def fit(self):
        return [1.0, 0.5]

    def validate(self):
        return {}

    def export(self, *a):
        return None

    def close(self):
        pass


@pytest.fixture(scope="module", autouse=True)
def stubs():
    """Replace the expensive work behind the commands; the checks in front of it stay real."""
    import walrus
    import walrus.commands.quickstart as quickstart
    import walrus.data.generators.pipeline as pipeline
    import walrus.train.trainer as trainer

    tiny = walrus.get_model("walrus-tiny")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(trainer, "Trainer", StubTrainer)
        mp.setattr(pipeline, "generate_dataset", lambda name, out, **kw: Path(out) / name)
        mp.setattr(quickstart, "_run", lambda out, seed, echo, **kw: {"out": str(out), "seed": seed})
        mp.setattr(walrus, "get_model", lambda name="walrus-tiny", weights=None, **kw: tiny)  # never build 1.3B
        yield


CONFIGS = {
    "good": f"datasets: [{{name: waves, path: {DATA}}}]\nepochs: 1\nsteps_per_epoch: 2\nwarmup_epochs: 0\ncooldown_epochs: 0\nprogress: false\n",
    "finetune": f"datasets: [{{name: waves, path: {DATA}}}]\ninit_from: {WORK / 'a_file'}\n",
    "no_data": f"datasets: [{{name: waves, path: {WORK / 'nowhere'}}}]\n",
    "bad_key": f"datasets: [{{name: waves, path: {DATA}}}]\nlearning_rate: 3\n",
    "negative": f"datasets: [{{name: waves, path: {DATA}}}]\nepochs: -1\n",
    "list": "- 1\n",
    "garbage": "\udcff\udcfe{[",
}
for _name, _text in CONFIGS.items():
    (WORK / f"{_name}.yaml").write_text(_text, encoding="utf-8", errors="surrogateescape")
CONFIG_PATHS = [str(WORK / f"{n}.yaml") for n in CONFIGS] + [str(WORK / "missing.yaml"), str(DATA), ""]

INTS = st.sampled_from(["0", "1", "2", "3", "-1", "8", "16", "513", "100000", "99999999999999999999", "1.5", "x", ""])
TOKENS = {
    "train": [("CONFIG", CONFIG_PATHS), ("--max-steps", INTS), ("--out-dir", ["", str(WORK / "run"), "\x00"])],
    "finetune": [("CONFIG", CONFIG_PATHS), ("--max-steps", INTS), ("--out-dir", [str(WORK / "run")])],
    "demo": [("--preset", ["walrus-tiny", "walrus-1.3b", "tiny", "", "walrus-tiny "]), ("--size", INTS),
             ("--boundary", ["wall", "open", "periodic", "WALL", "sticky", ""]), ("--seed", INTS),
             ("--weights", [str(WORK / "missing.pt"), str(DATA), str(WORK / "a_file")]),
             ("--out", [str(DATA), str(WORK / "demo.png")])],
    "generate": [("NAME", ["shallow_water_pyclaw", "gray_scott_pypde", "shallow_water", "", "../etc"]),
                 ("--out", [str(WORK / "gen"), str(WORK / "a_file"), ""]), ("--n-traj", INTS), ("--res", INTS),
                 ("--steps", INTS), ("--seed", INTS), ("--list", None)],
    "quickstart": [("--out", [str(WORK / "qs"), str(WORK / "a_file")]), ("--seed", INTS)],
    "info": [("--json", None)],
}


@st.composite
def command_lines(draw):
    command = draw(st.sampled_from(sorted(TOKENS)))
    args = [command]
    for option, values in draw(st.lists(st.sampled_from(TOKENS[command]), max_size=4)):
        if values is None:
            args.append(option)
            continue
        value = draw(values if isinstance(values, st.SearchStrategy) else st.sampled_from(values))
        args += [value] if option.isupper() else [option, value]
    if draw(st.integers(0, 7)) == 0:
        args.append(draw(st.sampled_from(["--bogus", "extra", "--help", "-x", "--size=4"])))
    return args


def invoke(args):
    """Run the CLI in process; a refusal comes back as its WalrusError, a clean run or usage error as the result."""
    result = runner.invoke(app, args, catch_exceptions=True)
    if "Traceback" in result.output:
        raise ContractViolation(f"traceback printed for {args}: {result.output}")
    exc = result.exception
    if isinstance(exc, BadInput):
        assert result.exit_code == EXIT_BAD_INPUT and result.output.startswith("Error: ")
        raise exc.error
    if exc is not None and not isinstance(exc, SystemExit):
        raise exc  # any other exception breaks the contract
    if result.exit_code not in (0, 2):
        raise ContractViolation(f"exit {result.exit_code} for {args}: {result.output}")
    return result


@settings(max_examples=examples(ci=60))
@given(args=command_lines())
def test_fuzz_command_lines(args):
    outcome = assert_contract(lambda: invoke(args), finite=False)
    if outcome.refused:
        check_refusal(outcome.error)
        assert str(outcome.error.field).startswith(("--", "NAME", "config", "datasets", "init_from", "max_steps",
                                                    "out_dir", "epochs", "learning_rate", "checkpoint", "warmup_epochs")), outcome.error
