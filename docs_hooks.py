"""mkdocs hook (mkdocs.yml `hooks:`): guides that exist only once written join the nav by themselves.

A nav entry for a missing page fails the strict build, and a page left out of the nav fails it
too (`validation.omitted_files`), so the pages below are listed here instead of in mkdocs.yml:
each is added to "Guides", after the page named, when its file exists, titled by its first heading.
"""

from __future__ import annotations

from pathlib import Path

# page -> the guide it follows
OPTIONAL_GUIDES = {"reuse.md": "adapters.md", "accuracy.md": "model.md", "model_card.md": "accuracy.md",
                   "transfer.md": "model_card.md"}


def _title(path: Path) -> str:
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# "):
            return line[2:].strip().strip("`")
    return path.stem.replace("_", " ").capitalize()


def on_config(config, **kwargs):
    docs = Path(config["docs_dir"])
    guides = next(section["Guides"] for section in config["nav"] if isinstance(section, dict) and "Guides" in section)
    listed = [next(iter(entry.values())) for entry in guides]
    for page, after in OPTIONAL_GUIDES.items():
        if page in listed or not (docs / page).exists():
            continue
        at = listed.index(after) + 1 if after in listed else len(listed)
        guides.insert(at, {_title(docs / page): page})
        listed.insert(at, page)
    return config
