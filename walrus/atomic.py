"""Atomic file writes: a reader never sees a half-written file, and a crash leaves no litter for long.

Write into a temporary file in the *same directory* (so ``os.replace`` is an atomic rename on
the same file system), ``fsync`` it, rename it over the target and ``fsync`` the directory, so
that after a power loss the target is the old or the new file, never an empty or partial one.
On any error the temporary is removed.

A process killed mid-write (SIGKILL, OOM killer, node failure) cannot clean up, so temporaries are
named after their owner: ``.<name>.<pid>.<random>.tmp``. The next write to the same target first
removes the temporaries of that target whose process no longer exists (``os.kill(pid, 0)``), so a
checkpoint written again and again after kills does not pile up hidden gigabytes.

Directories written atomically (training checkpoints) use the same names and the same clean-up
through :func:`temp_path`, :func:`remove_stale_temps`, :func:`fsync_tree` and :func:`fsync_dir`.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
from pathlib import Path
from typing import Iterator

__all__ = ["atomic_path", "temp_path", "remove_stale_temps", "fsync_file", "fsync_dir", "fsync_tree",
           "pid_alive"]

_SUFFIX = ".tmp"


def temp_path(path: str | os.PathLike, pid: int | None = None) -> Path:
    """A fresh temporary name beside ``path`` that names its owner: ``.<name>.<pid>.<random>.tmp``."""
    path = Path(path)
    pid = os.getpid() if pid is None else int(pid)
    return path.parent / f".{path.name}.{pid}.{secrets.token_hex(6)}{_SUFFIX}"


def pid_alive(pid: int) -> bool:
    """True if a process with this id exists (or exists and belongs to someone else)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:  # pragma: no cover - odd platforms: assume alive, never delete what may be in use
        return True
    return True


def _owner(name: str, pattern: re.Pattern) -> int | None:
    m = pattern.fullmatch(name)
    return int(m.group(1)) if m else None


def remove_stale_temps(directory: str | os.PathLike, name_glob: str) -> list[Path]:
    """Remove the temporaries ``.<name>.<pid>.<random>.tmp`` in ``directory`` whose ``<name>`` matches
    ``name_glob`` (a glob, e.g. ``"m.safetensors"`` or ``"step_*"``) and whose process is gone.

    Temporaries of live processes (a concurrent writer) and of this process are left alone.
    Returns what was removed; errors while removing (a racing cleaner) are ignored.
    """
    directory = Path(directory)
    name_re = re.escape(name_glob).replace(r"\*", ".*").replace(r"\?", ".")
    pattern = re.compile(rf"\.{name_re}\.(\d+)\.[0-9a-f]+{re.escape(_SUFFIX)}")
    removed = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    me = os.getpid()
    for entry in entries:
        pid = _owner(entry.name, pattern)
        if pid is None or pid == me or pid_alive(pid):
            continue
        p = Path(entry.path)
        with contextlib.suppress(OSError):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(p)
            else:
                p.unlink()
            removed.append(p)
    return removed


def fsync_file(path: str | os.PathLike) -> None:
    """Flush a file's data to stable storage."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: str | os.PathLike) -> None:
    """Flush a directory's entries (a rename into it) to stable storage; a no-op where unsupported."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # pragma: no cover - e.g. Windows cannot open directories
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(path: str | os.PathLike) -> None:
    """fsync every file under ``path`` and every directory (deepest first), then ``path`` itself."""
    path = Path(path)
    if path.is_file():
        fsync_file(path)
        return
    for root, dirs, files in os.walk(path, topdown=False):
        for name in files:
            p = os.path.join(root, name)
            if not os.path.islink(p):
                fsync_file(p)
        fsync_dir(root)


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it replaces ``path``, on error it is deleted.

    The temporary exists (empty) when yielded; the writer may overwrite it or replace it with a
    directory. It is fsynced before the rename and the directory after it. Stale temporaries of
    ``path`` left by killed processes are removed first.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path.parent, path.name)
    while True:
        tmp = temp_path(path)
        try:
            fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
        except FileExistsError:  # pragma: no cover - 48 random bits collided
            continue
        os.close(fd)
        break
    try:
        yield tmp
        fsync_tree(tmp)
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        _remove(tmp)
        raise
