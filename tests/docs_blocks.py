"""The code blocks of the guides (docs/*.md): found, checked and run, so the documentation cannot rot.

Every fenced block names its language. What happens to it:

- ``python``: run. The blocks of one page run in order in one namespace, in a scratch directory,
  so a later block may use what an earlier one defined;
- ``bash``: run with ``bash -euo pipefail`` in the same directory, the venv's ``walrus`` on PATH;
- ``toml`` / ``yaml``: parsed;
- ``text`` (and ``console`` output): shown only, never run;
- a block that only includes a file (``--8<-- "examples/adapter_pyclaw.py"``, pymdownx.snippets):
  the file must exist; an example file is run by its own test (tests/examples, tests/adapters).

An HTML comment on the line just above a fence changes that (the site shows nothing of it):

- ``<!-- docs-test: skip reason="needs the official 1.3B weights" -->`` does not run the block;
  the reason is required and says why it cannot run in a test (weights, a GPU, a cluster, network);
- ``<!-- docs-test: raises="FieldError" -->``: the block's last statement must raise this
  exception (or a subclass); the statements before it run normally;
- ``<!-- docs-test: setup`` ... ``-->``, on its own lines anywhere before a block: Python that runs
  first, invisible on the site (a checkpoint file, a solver set-up the text takes as given).

``python tests/docs_blocks.py PAGE`` runs one page's blocks in the current directory; the tests
run each page in a subprocess (tests/test_docs_code.py) so no page leaves state in another.
"""

from __future__ import annotations

import ast
import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"

RUN = {"python", "bash"}
PARSE = {"toml", "yaml"}
SHOW = {"text", "console"}
LANGUAGES = RUN | PARSE | SHOW

FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<ticks>`{3,}|~{3,})(?P<info>[^`]*)$")
MARKER = re.compile(r"^\s*<!--\s*docs-test:\s*(?P<body>.*?)\s*-->\s*$")
SETUP_OPEN = re.compile(r"^\s*<!--\s*docs-test:\s*setup\s*$")
OPTION = re.compile(r'(\w+)="([^"]*)"')
SNIPPET = re.compile(r'^--8<--\s+"([^"]+)"$')


class DocsBlockError(Exception):
    """A malformed block or marker, or a block that did not do what the page says."""


@dataclass
class Block:
    page: str
    line: int              # 1-based line of the block's first code line
    lang: str
    code: str
    skip: str | None = None      # the reason, when marked skip
    raises: str | None = None    # the exception name the last statement must raise
    setup: bool = False          # an invisible setup block

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def _marker(line: str, page: str, number: int) -> dict:
    body = MARKER.match(line).group("body")
    kind, options = body.split(" ", 1)[0], dict(OPTION.findall(body))
    if kind == "skip":
        reason = options.get("reason", "").strip()
        if not reason:
            raise DocsBlockError(f'{page}:{number}: a skip marker needs a reason: <!-- docs-test: skip reason="..." -->')
        return {"skip": reason}
    if kind.startswith("raises=") and options.get("raises", "").strip():
        return {"raises": options["raises"].strip()}
    raise DocsBlockError(f"{page}:{number}: unknown docs-test marker {body!r}; expected skip reason=\"...\", "
                         "raises=\"ExceptionName\" or setup")


def parse(text: str, page: str) -> list[Block]:
    """Every block of a page, in order, with its marker; malformed fences and markers raise DocsBlockError."""
    lines = text.splitlines()
    blocks: list[Block] = []
    pending: tuple[int, dict] | None = None
    i = 0
    while i < len(lines):
        line, number = lines[i], i + 1
        if SETUP_OPEN.match(line):
            end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == "-->"), None)
            if end is None:
                raise DocsBlockError(f"{page}:{number}: a docs-test setup comment is not closed by a line '-->'")
            blocks.append(Block(page, number + 1, "python", _dedent(lines[i + 1:end]), setup=True))
            i = end + 1
            continue
        if MARKER.match(line):
            if pending:
                raise DocsBlockError(f"{page}:{pending[0]}: a docs-test marker is not followed by a code block")
            pending = (number, _marker(line, page, number))
            i += 1
            continue
        fence = FENCE.match(line)
        if fence:
            indent, ticks, info = fence.group("indent"), fence.group("ticks"), fence.group("info").strip()
            lang = info.split()[0].lower() if info else ""
            end = next((j for j in range(i + 1, len(lines))
                        if lines[j].strip().startswith(ticks) and not lines[j].strip().strip(ticks[0])), None)
            if end is None:
                raise DocsBlockError(f"{page}:{number}: code block not closed")
            if lang not in LANGUAGES:
                raise DocsBlockError(f"{page}:{number}: a code block must name its language, one of "
                                     f"{sorted(LANGUAGES)} (text for output), received {lang or 'none'!r}")
            body = [ln[len(indent):] if ln.startswith(indent) else ln.lstrip() for ln in lines[i + 1:end]]
            options = pending[1] if pending and pending[0] == number - 1 else {}
            if pending and not options:
                raise DocsBlockError(f"{page}:{pending[0]}: a docs-test marker must be on the line just above its block")
            if options and lang not in RUN:
                raise DocsBlockError(f"{page}:{number}: docs-test markers apply to python or bash blocks, not {lang}")
            if options.get("raises") and lang != "python":
                raise DocsBlockError(f"{page}:{number}: raises= applies to python blocks only")
            blocks.append(Block(page, number + 1, lang, "\n".join(body), **options))
            pending = None
            i = end + 1
            continue
        if pending and line.strip():
            raise DocsBlockError(f"{page}:{pending[0]}: a docs-test marker must be on the line just above its block")
        i += 1
    if pending:
        raise DocsBlockError(f"{page}:{pending[0]}: a docs-test marker is not followed by a code block")
    return blocks


def _dedent(lines: list[str]) -> str:
    import textwrap

    return textwrap.dedent("\n".join(lines))


def _included_files(block: Block) -> list[str]:
    """The files a block only includes with pymdownx.snippets (``--8<-- "examples/x.py"``); they must exist."""
    lines = [ln.strip() for ln in block.code.splitlines() if ln.strip()]
    if not lines or not all(SNIPPET.match(ln) for ln in lines):
        return []
    paths = [SNIPPET.match(ln).group(1) for ln in lines]
    for path in paths:
        if not (DOCS.parent / path).is_file():
            raise DocsBlockError(f"{block.where}: includes {path}, which does not exist")
    return paths


def run_python(block: Block, namespace: dict) -> None:
    source = "\n" * (block.line - 1) + block.code   # tracebacks point at the page's own lines
    tree = ast.parse(source, filename=block.page)
    if not block.raises:
        exec(compile(tree, block.page, "exec"), namespace)
        return
    if not tree.body:
        raise DocsBlockError(f"{block.where}: raises={block.raises!r} on an empty block")
    *head, last = tree.body
    exec(compile(ast.Module(body=head, type_ignores=[]), block.page, "exec"), namespace)
    try:
        exec(compile(ast.Module(body=[last], type_ignores=[]), block.page, "exec"), namespace)
    except Exception as exc:  # the page promises this exception: check its name along the class's MRO
        if block.raises not in {cls.__name__ for cls in type(exc).__mro__}:
            raise DocsBlockError(f"{block.where}: the last statement raised {type(exc).__name__}: {exc}; "
                                 f"the page says {block.raises}") from exc
        print(f"{block.where}: raised {type(exc).__name__} as the page says: {exc}")
        return
    raise DocsBlockError(f"{block.where}: the last statement (line {last.lineno}) should raise {block.raises}, "
                         "and raised nothing")


def run_bash(block: Block, cwd: Path) -> None:
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", block.code], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)
    sys.stdout.write(proc.stdout)
    if proc.returncode != 0:
        raise DocsBlockError(f"{block.where}: bash block exited with {proc.returncode}:\n{block.code}\n"
                             f"--- stderr ---\n{proc.stderr[-4000:]}")


def check_parsed(block: Block) -> None:
    if block.lang == "toml":
        import tomllib

        tomllib.loads(block.code)
    elif block.lang == "yaml":
        import yaml

        yaml.safe_load(block.code)


def run_page(path: Path, cwd: Path) -> list[str]:
    """Run (or parse) every block of one page in ``cwd``, in order; returns what was done with each."""
    page = f"docs/{path.name}"
    blocks = parse(path.read_text(encoding="utf-8"), page)
    namespace: dict = {"__name__": "__docs__"}
    done = []
    previous = Path.cwd()
    os.chdir(cwd)
    try:
        _run_blocks(blocks, namespace, cwd, done)
    finally:
        os.chdir(previous)
    return done


def _run_blocks(blocks: list[Block], namespace: dict, cwd: Path, done: list[str]) -> None:
    for block in blocks:
        start = time.perf_counter()
        if block.skip:
            done.append(f"{block.where} {block.lang}: skipped ({block.skip})")
            continue
        included = _included_files(block)
        if included:
            what = f"{block.lang}: includes {', '.join(included)} (an example file, run by its own test)"
        elif block.lang == "python":
            run_python(block, namespace)
            what = f"python{' setup' if block.setup else ''}: ran"
        elif block.lang == "bash":
            run_bash(block, cwd)
            what = f"bash: ran {shlex.quote(block.code.splitlines()[0])}"
        elif block.lang in PARSE:
            check_parsed(block)
            what = f"{block.lang}: parsed"
        else:
            continue
        done.append(f"{block.where} {what} [{time.perf_counter() - start:.1f} s]")


if __name__ == "__main__":
    for entry in run_page(Path(sys.argv[1]).resolve(), Path.cwd()):
        print("docs-test:", entry)
