"""bench/speedup.py end to end at tiny size: a baseline really extracted from git, the same weights
on both sides, the differences recorded, and the FLOP ceiling computed."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import speedup  # noqa: E402

pytestmark = pytest.mark.skipif(
    subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True).returncode != 0,
    reason="bench/speedup.py extracts its baseline with git; not a git checkout")


def test_speedup_runs_against_a_git_baseline_on_the_same_weights(tmp_path):
    out = tmp_path / "speedup.json"
    record = speedup.main(["--baseline", "HEAD", "--cases", "walrus-tiny:16x16", "--threads", "1",
                           "--repeat", "1", "--warmup", "0", "--out", str(out), "--quiet"])
    assert json.loads(out.read_text()) == json.loads(json.dumps(record))
    assert record["baseline"] == "HEAD" and record["matmul_peak_gflops"] > 0
    rows = {row["mode"]: row for row in record["results"]}
    assert sorted(rows) == ["fwd", "fwd+bwd", "infer"]
    for row in rows.values():
        assert row["preset"] == "walrus-tiny" and row["shape"] == [16, 16]
        assert row["speedup"] > 0 and row["gflop"] > 0 and row["ceiling_speedup"] > 0
        # HEAD's network against the working tree's: the model code is the same in a clean checkout,
        # so the outputs and every gradient agree to fp32 round-off, with the same weights loaded
        assert row["max_rel_diff"] < 1e-4, row
    page = tmp_path / "page.md"
    page.write_text(f"intro\n{speedup.DOCS_BEGIN}\nold\n{speedup.DOCS_END}\noutro\n")
    speedup.main(["--docs-from", str(out), "--docs", str(page)])
    text = page.read_text()
    assert text.startswith("intro\n") and text.endswith("outro\n") and "old" not in text
    assert text.count("| walrus-tiny | 16x16 |") == 3 and record["command"] in text


def test_the_baseline_is_imported_from_the_extracted_tree(tmp_path):
    src = speedup.extract_baseline("HEAD", tmp_path)
    code = ("import sys; sys.path.insert(0, %r); import speedup; from pathlib import Path; "
            "speedup.import_walrus_from(Path(%r)); import walrus.model.network as n; print(n.__file__)"
            % (str(ROOT / "bench"), str(src)))
    printed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert printed.strip() == str(src / "walrus" / "model" / "network.py")


def test_flop_count_includes_cpu_flash_attention():
    q = torch.randn(2, 3, 50, 16)
    counted = speedup.count_flops(lambda: torch.nn.functional.scaled_dot_product_attention(q, q, q))
    assert counted == 4 * 2 * 3 * 50 * 50 * 16
