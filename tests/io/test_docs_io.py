"""The runnable example in docs/io.md runs."""

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "io.md"


def test_docs_io_example_runs(capsys):
    block = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)[-1]
    exec(compile(block, str(DOC), "exec"), {})
    out = capsys.readouterr().out
    assert "km s-1" in out and "(4, 1, 4, 32, 32, 1)" in out.replace("torch.Size([4, 1, 4, 32, 32, 1])", "(4, 1, 4, 32, 32, 1)")
