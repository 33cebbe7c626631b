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
