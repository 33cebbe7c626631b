"""Generated blocks in the docs: the text between a begin and an end marker of a Markdown page,
rewritten atomically by the benchmark that measured it; the rest of the page is left alone."""

from __future__ import annotations

from pathlib import Path


def replace_block(path: Path, begin: str, end: str, body: str) -> None:
    """Put `body` between the `begin` and `end` markers of `path`; a page without both is refused."""
    from walrus.atomic import atomic_path

    text = path.read_text()
    if begin not in text or end not in text:
        raise ValueError(f"{path} has no {begin} ... {end} markers for the generated block")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    with atomic_path(path) as tmp:
        Path(tmp).write_text(f"{head}{begin}\n{body}{end}{tail}")
