import json

from typer.testing import CliRunner

from walrus.cli import app

runner = CliRunner()


def test_info_lists_presets_with_exact_parameter_counts():
    result = runner.invoke(app, ["info", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.output)}
    assert rows["walrus-1.3b"]["parameters"] == 1_286_199_047
    assert rows["walrus-1.3b"]["vocabulary"] == 67
    assert {"walrus-half", "walrus-small", "walrus-tiny"} <= set(rows)


def test_demo_runs_one_step_and_writes_a_figure(tmp_path):
    out = tmp_path / "demo.png"
    result = runner.invoke(app, ["demo", "--size", "32", "--boundary", "wall", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "token grid 32x32" in result.output and "velocity_x" in result.output
    assert out.stat().st_size > 1000


def test_demo_refuses_an_unknown_boundary():
    result = runner.invoke(app, ["demo", "--boundary", "sticky"])
    assert result.exit_code != 0
    assert "sticky" in str(result.exception)


# ---------------------------------------------------------------- bad input: a message, exit 2, no traceback
import pytest  # noqa: E402

from walrus.cli import EXIT_BAD_INPUT, BadInput  # noqa: E402
from walrus.errors import ConfigError  # noqa: E402
from walrus.train import TrainConfig  # noqa: E402


def refused(args, *needles):
    """Invoke the CLI; it must exit 2 with a ConfigError message holding every needle, and no traceback."""
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    assert isinstance(result.exception, BadInput), repr(result.exception)
    assert isinstance(result.exception.error, ConfigError)
    assert "Traceback" not in result.output
    assert result.output.startswith("Error: ConfigError: "), result.output
    for needle in needles:
        assert needle in result.output, (needle, result.output)
    return result


def yaml_file(tmp_path, text, name="config.yaml"):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


GOOD = "datasets: [{name: waves, path: DATA}]\n"


@pytest.mark.parametrize("text, needles", [
    (GOOD + "learning_rate: 1\n", ["learning_rate: unknown training option", "received 'learning_rate'"]),
    (GOOD + "lrr: 0.1\n", ["lrr: unknown training option", "did you mean 'lr'?"]),
    (GOOD + "epochs: -3\n", ["epochs: expected an integer in [1, 10,000,000]", "received -3 (int)"]),
    (GOOD + "epochs: 0\n", ["epochs: expected an integer"]),
    (GOOD + "epochs: 5\n", ["warmup and cooldown do not fit", "<= epochs (5)", "received 10 + 10"]),
    (GOOD + "epochs: 1.0e+30\n", ["epochs: expected an integer", "received 1e+30 (float)"]),
    (GOOD + "steps_per_epoch: '100'\n", ["steps_per_epoch: expected an integer", "received '100' (str)"]),
    (GOOD + "lr: .nan\n", ["lr: expected a finite number in (0, 10]", "received nan"]),
    (GOOD + "lr: -1.0e-3\n", ["lr: expected a finite number"]),
    (GOOD + "batch_size_2d: 100000000000\n", ["batch_size_2d: expected an integer in [1, 65,536]"]),
    (GOOD + "augment: 'yes please'\n", ["augment: expected true or false"]),
    (GOOD + "engine: fdsp\n", ["engine: expected one of 'single', 'fsdp', 'deepspeed'", "did you mean 'fsdp'?"]),
    (GOOD + "mesh: [0, 4]\n", ["mesh[0]: expected an integer in [1, 1,048,576] (replicate)", "received 0"]),
    (GOOD + "mesh: [2, 2, 2]\n", ["mesh: expected null or [replicate, shard]"]),
    (GOOD + "mesh: 4x2\n", ["mesh: expected null or [replicate, shard]", "'4x2' (str)"]),
    (GOOD + "zero_stage: 4\n", ["zero_stage: expected 1, 2 or 3"]),
    (GOOD + "preset: walrus-huge\n", ["preset: unknown model preset", "walrus-tiny", "received 'walrus-huge'"]),
    (GOOD + "model_overrides: {n_heads: 0}\n", ["model_overrides.n_heads: expected an integer in [1, 65,536]"]),
    (GOOD + "model_overrides: {n_heads: 5}\n", ["model_overrides: the model config these overrides give is invalid"]),
    (GOOD + "model_overrides: {depth: 3}\n", ["model_overrides.depth: unknown model config key"]),
    (GOOD + "device: gpu0\n", ["device: expected auto, cpu, cuda or cuda:N", "received 'gpu0'"]),
    (GOOD + "mixed_precision: fp8\n", ["mixed_precision: expected one of null, 'bf16'"]),
    (GOOD + "seed: -1\n", ["seed: expected an integer in [0, 9,223,372,036,854,775,807]"]),
    (GOOD + "new_field_init: {salinity: concentration}\n", ["new_field_init.salinity: initialises a field"]),
    (GOOD + "freeze: embed\n", ["freeze: expected a list of strings"]),
    ("datasets: []\n", ["datasets: the corpus needs at least one dataset"]),
    ("datasets: [{name: no_such_dataset}]\n", ["datasets[0].name: unknown dataset, and no path given",
                                              "received 'no_such_dataset'"]),
    ("datasets: [{name: a, path: DATA, split: train}]\n", ["datasets[0].split: unknown dataset option"]),
    ("datasets: [{name: a, path: DATA}, {name: a, path: DATA}]\n", ["datasets: a dataset is listed twice"]),
    ("datasets: [{path: DATA}]\n", ["datasets[0].name: missing dataset name"]),
    ("datasets: [3]\n", ["datasets[0]: expected a mapping"]),
    ("datasets: {name: a}\n", ["datasets: expected a list of datasets"]),
    ("epochs: 3\n", ["datasets: missing required option"]),
    ("", ["datasets: missing required option"]),
    ("- a\n- b\n", ["config: a training config is a mapping of options", "holds a list"]),
    ("just a string\n", ["config: a training config is a mapping of options", "holds a str"]),
    ("datasets: [{name: a, path: DATA}\n", ["config: config file is not valid YAML", "line 2"]),
    (b"\xff\xfe\x00\x01garbage", ["config: config file is not UTF-8 text", "byte 0"]),
])
def test_train_refuses_bad_config_files_by_key(tmp_path, text, needles):
    data = tmp_path / "data"
    data.mkdir()
    if isinstance(text, str):
        text = text.replace("DATA", str(data))
    path = yaml_file(tmp_path, text)
    result = refused(["train", path], *needles)
    if "config: " not in needles[0]:
        assert f"in {path})" in result.output  # the file is named too


def test_train_refuses_missing_data_and_checkpoints_before_any_work(tmp_path):
    path = yaml_file(tmp_path, f"datasets: [{{name: waves, path: {tmp_path / 'nowhere'}}}]\n")
    refused(["train", path], "datasets[0].path: dataset directory not found", "nowhere")
    (tmp_path / "data").mkdir()
    path = yaml_file(tmp_path, f"datasets: [{{name: waves, path: {tmp_path / 'data'}}}]\n"
                               f"init_from: {tmp_path / 'missing.safetensors'}\n")
    refused(["finetune", path], "init_from: checkpoint not found", "missing.safetensors")
    path = yaml_file(tmp_path, f"datasets: [{{name: waves, path: {tmp_path / 'data'}}}]\n")
    refused(["finetune", path], "init_from: fine-tuning needs `init_from:`")
    refused(["train", path, "--max-steps", "0"], "max_steps: expected null or an integer in [1,", "received 0")


def test_set_replaces_config_options_read_as_yaml(tmp_path, monkeypatch):
    import walrus.commands.train as train_command

    (tmp_path / "data").mkdir()
    path = yaml_file(tmp_path, f"datasets: [{{name: waves, path: {tmp_path / 'data'}}}]\nmax_dt_stride: 5\n"
                               "mixed_precision: bf16\n")
    cfg = TrainConfig.from_yaml(path, train_command.parse_settings(
        ["max_dt_stride=1", "mixed_precision=null", "mesh=[1, 2]", "dataset_balance=entry"]))
    assert (cfg.max_dt_stride, cfg.mixed_precision, cfg.mesh, cfg.dataset_balance) == (1, None, [1, 2], "entry")
    assert TrainConfig.from_yaml(path).max_dt_stride == 5  # the file itself is unchanged
    seen = []
    monkeypatch.setattr(train_command, "run", lambda *a, **kw: seen.append(kw["settings"]))
    for command in ("train", "finetune"):
        result = runner.invoke(app, [command, str(path), "--set", "max_dt_stride=1", "--set", "seed=3"])
        assert result.exit_code == 0, result.output
        assert seen.pop() == ["max_dt_stride=1", "seed=3"]


@pytest.mark.parametrize("setting, needles", [
    ("max_dt_stride", ["--set: a setting is KEY=VALUE", "received 'max_dt_stride'"]),
    ("=3", ["--set: a setting is KEY=VALUE"]),
    ("datasets=[]", ["--set: datasets are set in the config file"]),
    ("epochz=3", ["epochz: unknown training option", "epochs", "with --set epochz"]),
    ("max_dt_stride=0", ["max_dt_stride: expected", "received 0", "with --set max_dt_stride"]),
    ("lr=[1", ["--set lr: the value is not valid YAML", "received '[1'"]),
])
def test_set_refuses_bad_settings_by_name(tmp_path, setting, needles):
    (tmp_path / "data").mkdir()
    path = yaml_file(tmp_path, f"datasets: [{{name: waves, path: {tmp_path / 'data'}}}]\n")
    refused(["train", path, "--set", setting], *needles)


def test_usage_errors_are_click_errors_without_traceback(tmp_path):
    for args in (["train", str(tmp_path / "missing.yaml")], ["train", str(tmp_path)], ["demo", "--size", "many"],
                 ["generate", "--n-traj", "x"], ["no-such-command"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert isinstance(result.exception, SystemExit) and "Traceback" not in result.output


@pytest.mark.parametrize("args, needles", [
    (["demo", "--preset", "walrus-tiny2"], ["--preset: unknown model preset", "did you mean 'walrus-tiny'?"]),
    (["demo", "--size", "0"], ["--size: expected an integer in [4, 512]", "received 0"]),
    (["demo", "--size", "100000"], ["--size: expected an integer in [4, 512]"]),
    (["demo", "--seed", "-5"], ["--seed: expected an integer in [0, 2**63)"]),
    (["demo", "--weights", "no_such.pt"], ["--weights: checkpoint not found", "no_such.pt"]),
    (["demo", "--boundary", "sticky"], ["--boundary: unknown boundary", "received 'sticky'"]),
    (["generate", "no_such_dataset", "--out", "OUT"], ["NAME: unknown dataset 'no_such_dataset'"]),
    (["generate", "shallow_water_pyclw", "--out", "OUT"], ["did you mean 'shallow_water_pyclaw'?"]),
    (["generate"], ["NAME: give a dataset name"]),
    (["generate", "shallow_water_pyclaw"], ["--out: give an output directory with --out"]),
    (["generate", "shallow_water_pyclaw", "--out", "OUT", "--res", "-3"], ["--res: expected an integer in [1, 4,096]"]),
    (["generate", "shallow_water_pyclaw", "--out", "OUT", "--steps", "10000000"], ["--steps: expected an integer"]),
    (["generate", "shallow_water_pyclaw", "--out", "OUT", "--n-traj", "0"], ["--n-traj: expected an integer"]),
    (["generate", "shallow_water_pyclaw", "--out", "FILE"], ["--out: --out is not a directory"]),
    (["quickstart", "--seed", "-1"], ["--seed: expected an integer in [0, 2**31)"]),
    (["quickstart", "--out", "FILE"], ["--out: --out is not a directory"]),
])
def test_commands_refuse_bad_arguments_by_name(tmp_path, args, needles):
    (tmp_path / "file").write_text("x")
    args = [a.replace("OUT", str(tmp_path / "out")).replace("FILE", str(tmp_path / "file")) for a in args]
    refused(args, *needles)
    assert not (tmp_path / "out").exists()  # nothing was generated


def test_train_config_checks_python_callers_too():
    with pytest.raises(ConfigError, match=r"grad_clip: expected a finite number in \(0, 1e\+12\]"):
        TrainConfig(datasets=[{"name": "shallow_water_pyclaw"}], grad_clip=float("inf"))
    with pytest.raises(ConfigError, match="datasets: expected a list of datasets"):
        TrainConfig(datasets="shallow_water_pyclaw")
    with pytest.raises(ConfigError, match="history_2d: expected null or an integer in \\[1, 64\\]"):
        TrainConfig(datasets=["shallow_water_pyclaw"], history_2d=True)
    with pytest.raises(ConfigError, match="config: expected a path to a YAML file"):
        TrainConfig.from_yaml(3.5)
    # valid configs still build, registered names need no path, and overrides apply
    cfg = TrainConfig(datasets=["shallow_water_pyclaw"], mesh=(2, 1), model_overrides={"n_blocks": 1})
    assert cfg.datasets[0].name == "shallow_water_pyclaw" and cfg.datasets[0].path is None and cfg.mesh == [2, 1]


# ---------------------------------------------------------------- progress bars and --quiet
import re  # noqa: E402

#: a tqdm rate in a bar: "12.5frame/s" or "1.20s/step" (tqdm prints "?frame/s" before it has one)
RATE = re.compile(r"\d+(\.\d+)?(frame|step)/s|\d+(\.\d+)?s/(frame|step)")


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory):
    """A real (PyClaw) dataset of 3 trajectories x 4 frames of 8x8, generated through the CLI with and without
    --quiet: the bar (frames, rate) goes to stderr, the summary to stdout."""
    root = tmp_path_factory.mktemp("corpus")
    args = ["generate", "shallow_water_pyclaw", "--n-traj", "3", "--res", "8", "--steps", "4"]
    loud = runner.invoke(app, args + ["--out", str(root / "loud")])
    quiet = runner.invoke(app, args + ["--out", str(root / "quiet"), "--quiet"])
    return root, loud, quiet


def test_generate_shows_a_progress_bar_unless_quiet(tiny_corpus):
    root, loud, quiet = tiny_corpus
    for result in (loud, quiet):
        assert result.exit_code == 0, result.output
        assert "wrote " in result.stdout and "units: SI" in result.stdout
    assert "shallow_water_pyclaw: 100%" in loud.stderr and "12/12" in loud.stderr and RATE.search(loud.stderr), loud.stderr
    assert quiet.stderr == ""


def test_train_shows_a_progress_bar_unless_quiet(tiny_corpus, tmp_path):
    root = tiny_corpus[0] / "loud" / "shallow_water_pyclaw"
    config = yaml_file(tmp_path, f"datasets: [{{name: shallow_water_pyclaw, path: {root}}}]\n"
                                 "history_2d: 2\nepochs: 1\nsteps_per_epoch: 2\nwarmup_epochs: 0\ncooldown_epochs: 0\n"
                                 "validate_every: 0\nprogress: true\nmodel_overrides: {n_blocks: 1}\n")
    loud = runner.invoke(app, ["train", str(config), "--out-dir", str(tmp_path / "a"), "--max-steps", "1"])
    assert loud.exit_code == 0, loud.output
    assert "1 steps; loss" in loud.stdout and re.search(r"train: +100%", loud.stderr) and RATE.search(loud.stderr), \
        loud.stderr
    quiet = runner.invoke(app, ["train", str(config), "--out-dir", str(tmp_path / "b"), "--max-steps", "1", "-q"])
    assert quiet.exit_code == 0, quiet.output
    assert "1 steps; loss" in quiet.stdout and quiet.stderr == ""


def test_every_long_command_takes_quiet():
    for command in ("generate", "train", "finetune", "quickstart", "plot"):
        result = runner.invoke(app, [command, "--help"])
        assert result.exit_code == 0 and "--quiet" in result.output, (command, result.output)


def test_quickstart_passes_quiet_down(monkeypatch, tmp_path):
    """The quickstart itself is tested in tests/adapters (fast mode); here only the flag's way down."""
    import walrus.commands.quickstart as quickstart

    seen = []
    monkeypatch.setattr(quickstart, "_run", lambda out, seed, echo, **kw: seen.append(kw["quiet"]) or {})
    for args, quiet in ((["quickstart", "--out", str(tmp_path)], False), (["quickstart", "--out", str(tmp_path), "-q"], True)):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        assert seen.pop() is quiet
