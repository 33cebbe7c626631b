"""bench/compute_scaling.py: two-point power laws and where walrus-mini's would cross a baseline's."""

import json
import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import compute_scaling  # noqa: E402


def test_the_power_law_goes_through_both_points():
    a, b = compute_scaling.power_law([(4000.0, 0.25), (1000.0, 1.0)])
    assert b == pytest.approx(1.0) and a == pytest.approx(1000.0)
    with pytest.raises(ValueError, match="two budgets"):
        compute_scaling.power_law([(10.0, 1.0), (10.0, 2.0)])


def test_crossings():
    # walrus 1/s, baseline 0.01 * s^-0.5: equal at s = 1e4
    got = compute_scaling.crossover((1.0, 1.0), (0.01, 0.5), at=100.0)
    assert got["status"] == "projected" and got["seconds"] == pytest.approx(1e4)
    assert compute_scaling.crossover((1.0, 1.0), (0.01, 0.5), at=2e4)["status"] == "ahead"
    assert compute_scaling.crossover((1.0, 0.4), (0.01, 0.5), at=100.0) == {"status": "never", "seconds": None}


def test_the_bar_is_the_budget_that_crosses_enough_systems():
    crossings = [{"status": "ahead", "seconds": None}] * 3 + [{"status": "projected", "seconds": s} for s in (5.0, 9.0)]
    assert compute_scaling.budget_for(crossings, 0.8) == 5.0      # 4 of 5
    assert compute_scaling.budget_for(crossings, 1.0) == 9.0
    assert compute_scaling.budget_for(crossings, 0.6) == 0.0      # already there
    assert compute_scaling.budget_for(crossings + [{"status": "never", "seconds": None}], 1.0) is None


def _record(path, walrus_label, models_by_system, seconds):
    results = {}
    for system, models in models_by_system.items():
        entry = {walrus_label: models["walrus"]} if walrus_label else {}
        for kind in ("fno", "unet"):
            entry[kind] = dict(models[kind], training={"walrus_total_seconds": seconds})
        results[system] = {"models": entry}
    path.write_text(json.dumps({"results": results}))


def test_end_to_end_on_results_files(tmp_path):
    def m(e1, e10):
        return {"one_step": e1, "steps_1_10": e10}

    # walrus halves its error per 4x compute (b = 0.5); FNO does not improve (b = 0); U-Net is already worse
    small = {"s": {"walrus": m(0.4, 1.0), "fno": m(0.1, 1.0), "unet": m(1.0, 2.0)}}
    large = {"s": {"walrus": m(0.2, 0.5), "fno": m(0.1, 1.0), "unet": m(1.0, 2.0)}}
    _record(tmp_path / "small.json", "w", small, 1000.0)
    _record(tmp_path / "large.json", "w", large, 4000.0)
    record = compute_scaling.main([
        "--walrus", str(tmp_path / "small.json"), "w", "1000", "--walrus", str(tmp_path / "large.json"), "w", "4000",
        "--baselines", str(tmp_path / "small.json"), "--baselines", str(tmp_path / "large.json"),
        "--budgets", "15000", "16001", "--out", str(tmp_path / "out.json"), "--plot", str(tmp_path / "p.png")])
    one = record["systems"]["s"]["one_step"]
    assert one["walrus"]["b"] == pytest.approx(0.5)
    assert one["fno"]["status"] == "projected" and one["fno"]["seconds"] == pytest.approx(16000.0)  # 0.2 -> 0.1 at 4x
    assert record["systems"]["s"]["steps_1_10"]["fno"]["status"] == "ahead"
    assert one["unet"]["status"] == "ahead"
    assert record["bar"]["fno/one_step"] == pytest.approx(16000.0) and record["bar"]["all"] == pytest.approx(16000.0)
    ahead = record["systems_ahead_at"]
    assert [ahead[b]["fno/one_step"] for b in ("4000", "15000", "16001")] == [0, 0, 1]
    assert ahead["4000"]["fno/steps_1_10"] == 1 and ahead["4000"]["unet/one_step"] == 1
    assert json.loads((tmp_path / "out.json").read_text())["bar"] == record["bar"]
    assert (tmp_path / "p.png").stat().st_size > 0
    assert math.isfinite(record["at_seconds"]) and record["at_seconds"] == 4000.0


def test_it_wants_two_budgets_per_side(tmp_path):
    with pytest.raises(SystemExit):
        compute_scaling.main(["--walrus", "a.json", "w", "1", "--baselines", "a.json", "--baselines", "b.json"])


def test_the_docs_quote_the_committed_projection():
    root = Path(__file__).resolve().parents[2]
    record = json.loads((root / "bench" / "results" / "compute_scaling.json").read_text())
    text = " ".join((root / "docs" / "accuracy.md").read_text().split())   # line breaks as spaces
    ahead = record["systems_ahead_at"]
    assert f"on {ahead['7200']['fno/one_step']} of 9 systems" in text
    assert f"and on {ahead['14400']['fno/one_step']} by 4 hours" in text
    assert f"about {round(record['bar']['unet/one_step'], -3):,.0f} s" in text
    at = f"{record['at_seconds']:g}"
    assert f"already met ({ahead[at]['unet/steps_1_10']} of 9)" in text
    b = {k: sorted(r["one_step"][k]["b"] for r in record["systems"].values()) for k in ("walrus", "fno")}
    assert f"exponent b is {b['walrus'][0]:.2f}-{b['walrus'][-1]:.2f}, FNO's {b['fno'][0]:.2f}-{b['fno'][-1]:.2f}" in text
