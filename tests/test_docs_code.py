"""Every code block of the guides runs (or is parsed, or carries a visible skip with its reason).

The rules and markers are in tests/docs_blocks.py. Each page runs in its own subprocess, in a
scratch directory, so a page that registers a plugin or writes files leaves nothing behind.
"""

import subprocess
import sys
from pathlib import Path

import pytest

from docs_blocks import DOCS, DocsBlockError, parse, run_page

RUNNER = Path(__file__).with_name("docs_blocks.py")
PAGES = sorted(DOCS.glob("*.md"))


def test_every_block_is_well_formed_and_every_skip_has_a_reason():
    skips = []
    for path in PAGES:
        for block in parse(path.read_text(encoding="utf-8"), f"docs/{path.name}"):
            if block.skip is not None:
                assert block.skip.strip(), block.where
                skips.append(f"{block.where}: {block.skip}")
    print("\n".join(["skipped blocks:"] + skips))


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.name)
def test_page_code_blocks_run(path, tmp_path):
    blocks = parse(path.read_text(encoding="utf-8"), f"docs/{path.name}")
    to_run = [b for b in blocks if b.lang in ("python", "bash") and not b.skip and "--8<--" not in b.code]
    if not to_run:
        return  # only text, parsed or skipped blocks: checked by the test above
    proc = subprocess.run([sys.executable, str(RUNNER), str(path)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, f"{path.name}: a code block failed\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    ran = [line for line in proc.stdout.splitlines() if line.startswith("docs-test:")]
    assert sum(": ran" in line for line in ran) == len(to_run), ran


# The mechanism itself, on small synthetic pages (no torch, in-process).

def page(tmp_path, text):
    path = tmp_path / "page.md"
    path.write_text(text)
    return path


def test_blocks_of_a_page_share_one_namespace_in_order(tmp_path):
    path = page(tmp_path, "```python\nx = 2\n```\n\ntext\n\n```python\nassert x == 2\nopen('made', 'w').write('1')\n```\n")
    done = run_page(path, tmp_path)
    assert len(done) == 2 and all(": ran" in d for d in done)
    assert (tmp_path / "made").read_text() == "1"          # run in the given directory


def test_a_failing_block_fails_with_the_page_line(tmp_path):
    path = page(tmp_path, "# t\n\n```python\nx = 1\nassert x == 2, 'wrong'\n```\n")
    with pytest.raises(AssertionError) as info:
        run_page(path, tmp_path)
    assert info.traceback[-1].lineno + 1 == 5          # the page's own line number


def test_a_failing_bash_block_fails(tmp_path):
    path = page(tmp_path, "```bash\ntrue\nfalse\n```\n")
    with pytest.raises(DocsBlockError, match="exited with 1"):
        run_page(path, tmp_path)


def test_raises_marker_needs_the_named_exception_from_the_last_statement(tmp_path):
    ok = '<!-- docs-test: raises="ValueError" -->\n```python\nx = 1\nint("a")\n```\n'
    assert "ran" in run_page(page(tmp_path, ok), tmp_path)[0]
    silent = '<!-- docs-test: raises="ValueError" -->\n```python\nint("1")\n```\n'
    with pytest.raises(DocsBlockError, match="raised nothing"):
        run_page(page(tmp_path, silent), tmp_path)
    other = '<!-- docs-test: raises="KeyError" -->\n```python\nint("a")\n```\n'
    with pytest.raises(DocsBlockError, match="raised ValueError"):
        run_page(page(tmp_path, other), tmp_path)


def test_skip_needs_a_reason_and_is_not_run(tmp_path):
    skipped = '<!-- docs-test: skip reason="needs a GPU" -->\n```python\nraise SystemExit(3)\n```\n'
    assert run_page(page(tmp_path, skipped), tmp_path) == ["docs/page.md:3 python: skipped (needs a GPU)"]
    for bad in ('<!-- docs-test: skip -->\n```python\nx = 1\n```\n',
                '<!-- docs-test: skip reason="" -->\n```python\nx = 1\n```\n'):
        with pytest.raises(DocsBlockError, match="needs a reason"):
            parse(bad, "page.md")


def test_markers_must_sit_just_above_a_runnable_block(tmp_path):
    for bad, why in (('<!-- docs-test: skip reason="x" -->\n\n```python\nx = 1\n```\n', "just above"),
                     ('<!-- docs-test: skip reason="x" -->\nsome text\n', "just above"),
                     ('<!-- docs-test: skip reason="x" -->\n```text\nout\n```\n', "python or bash"),
                     ('<!-- docs-test: sometimes -->\n```python\nx = 1\n```\n', "unknown docs-test marker"),
                     ("```\nno language\n```\n", "must name its language"),
                     ("```python\nx = 1\n", "not closed")):
        with pytest.raises(DocsBlockError, match=why):
            parse(bad, "page.md")


def test_setup_comments_run_first_and_invisibly(tmp_path):
    text = "<!-- docs-test: setup\nsecret = 41\n-->\n\n```python\nassert secret + 1 == 42\n```\n"
    blocks = parse(text, "page.md")
    assert [b.setup for b in blocks] == [True, False]
    assert all(": ran" in d for d in run_page(page(tmp_path, text), tmp_path))


def test_included_example_files_must_exist(tmp_path):
    ok = '```python\n--8<-- "examples/adapter_scipy.py"\n```\n'
    assert "includes examples/adapter_scipy.py" in run_page(page(tmp_path, ok), tmp_path)[0]
    with pytest.raises(DocsBlockError, match="does not exist"):
        run_page(page(tmp_path, ok.replace("adapter_scipy", "adapter_nowhere")), tmp_path)


def test_toml_and_yaml_blocks_are_parsed(tmp_path):
    assert run_page(page(tmp_path, "```toml\n[a]\nb = 1\n```\n"), tmp_path)[0].startswith("docs/page.md:2 toml: parsed")
    with pytest.raises(Exception):
        run_page(page(tmp_path, "```toml\n[a\n```\n"), tmp_path)
