"""Atomic writes under SIGKILL: writers run in child processes that are killed at random (seeded)
moments; the destination must then be absent or a complete, loadable file, and the next successful
write must leave no temporary file behind.

Children are forked from a forkserver that has walrus and torch imported already, so a kill costs
milliseconds, not an interpreter start-up.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import signal
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from walrus.atomic import atomic_path, remove_stale_temps, temp_path

KILLS = 4          # kills per writer
MAX_DELAY = 0.6    # seconds after the child is ready


# --------------------------------------------------------------------------- writers (run in children)
def _setup(kind: str, path: Path):
    """Everything a writer needs before the loop (built before the child says it is ready)."""
    if kind == "well":
        from walrus.io.examples import write_example_well_file

        return lambda i: write_example_well_file(path, n_dims=2, size=16, n_traj=2, n_steps=12, seed=i % 3)
    if kind == "netcdf":
        from walrus.io import to_netcdf
        from walrus.io.examples import write_example_well_file
        from walrus.io.well_reader import read_well_file

        ds = read_well_file(write_example_well_file(path.parent / "src.hdf5.source", n_dims=2, size=16, n_traj=2,
                                                    n_steps=12))
        return lambda i: to_netcdf(ds, path)
    if kind == "safetensors":
        import walrus
        from walrus.model.checkpoint import save_checkpoint

        model = walrus.get_model("walrus-tiny")
        return lambda i: save_checkpoint(model, path)
    if kind == "training":
        import torch

        import walrus
        from walrus.train.checkpointing import save_training_checkpoint

        model = walrus.get_model("walrus-tiny")
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        engine = SimpleNamespace(name="single", module=model, optimizer=opt, raw=model)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
        return lambda i: save_training_checkpoint(path, engine, sched, dict(epoch=0, step=i, global_step=i % 3),
                                                  True)
    raise ValueError(kind)


def _child(kind: str, path: str, ready) -> None:
    write = _setup(kind, Path(path))
    ready.set()
    i = 0
    while True:
        write(i)
        i += 1


# --------------------------------------------------------------------------- checks (in the test process)
def _check_valid(kind: str, path: Path) -> None:
    """The destination is absent, or complete and loadable."""
    if kind == "well":
        if path.exists():
            from walrus.io import check_well_file, read_well_file

            check_well_file(path)
            read_well_file(path)
    elif kind == "netcdf":
        if path.exists():
            from walrus.io import open_dataset

            assert open_dataset(path)["density"].shape == (2, 12, 16, 16)
    elif kind == "safetensors":
        if path.exists():
            from walrus.model.checkpoint import load_checkpoint

            load_checkpoint(path)
    else:
        from walrus.train.checkpointing import latest_checkpoint, verify_checkpoint

        ckpt = latest_checkpoint(path)
        if ckpt is not None:
            verify_checkpoint(ckpt)
        for d in path.glob("step_*"):  # every checkpoint under its final name is complete
            verify_checkpoint(d)


def _temps(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(".") and p.name.endswith(".tmp"))


@pytest.fixture(scope="module")
def ctx():
    context = mp.get_context("forkserver")
    context.set_forkserver_preload(["torch", "walrus", "walrus.io", "walrus.model", "walrus.train.checkpointing",
                                    "safetensors.torch", "h5py", "netCDF4", "xarray"])
    return context


@pytest.mark.parametrize("kind", ["well", "netcdf", "safetensors", "training"])
def test_sigkill_leaves_old_or_new_file_and_next_write_cleans_up(ctx, tmp_path, kind):
    rng = random.Random(f"atomic-{kind}")
    target = tmp_path / {"well": "d.hdf5", "netcdf": "d.nc", "safetensors": "m.safetensors",
                         "training": "checkpoints"}[kind]
    left_behind, k = 0, 0
    while k < KILLS or (left_behind == 0 and k < 4 * KILLS):  # until a kill has landed mid-write
        k += 1
        ready = ctx.Event()
        proc = ctx.Process(target=_child, args=(kind, str(target), ready), daemon=True)
        proc.start()
        assert ready.wait(120), "writer did not start"
        time.sleep(rng.uniform(0.0, MAX_DELAY))
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(30)
        assert proc.exitcode == -signal.SIGKILL, f"writer died on its own (exit {proc.exitcode})"
        _check_valid(kind, target)
        left_behind += len(_temps(target if kind == "training" else tmp_path))
    # the writers loop without pause, so kills land mid-write and leave temporaries (the point of the test)
    assert left_behind >= 1, "no kill interrupted a write"
    # one successful write in this process removes what the killed writers left
    _setup(kind, target)(1)
    _check_valid(kind, target)
    assert _temps(target if kind == "training" else tmp_path) == []
    assert target.exists()


def test_temp_names_identify_the_owner_and_only_dead_owners_are_cleaned(tmp_path):
    target = tmp_path / "file.bin"
    mine = temp_path(target)
    assert mine.name.startswith(".file.bin.") and f".{os.getpid()}." in mine.name and mine.name.endswith(".tmp")
    dead = ctx_dead_pid()
    stale = temp_path(target, pid=dead)
    stale.write_bytes(b"half")
    alive = temp_path(target, pid=os.getppid())  # a live process (our parent)
    alive.write_bytes(b"busy")
    other = temp_path(tmp_path / "other.bin", pid=dead)  # another target's temporary: not ours to remove
    other.write_bytes(b"x")
    stale_dir = temp_path(target, pid=dead)
    stale_dir.mkdir()
    (stale_dir / "inner").write_bytes(b"y")
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"complete")
    assert target.read_bytes() == b"complete"
    names = _temps(tmp_path)
    assert stale.name not in names and stale_dir.name not in names
    assert alive.name in names and other.name in names
    assert remove_stale_temps(tmp_path, "other.bin") == [other]


def test_an_error_inside_atomic_path_removes_the_temporary(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "x") as tmp:
            tmp.write_bytes(b"partial")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_fsyncs_file_and_directory(tmp_path, monkeypatch):
    import walrus.atomic as atomic

    synced = []
    real = os.fsync

    def spy(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}") if os.path.exists(f"/proc/self/fd/{fd}") else fd)
        return real(fd)

    monkeypatch.setattr(atomic.os, "fsync", spy)
    with atomic_path(tmp_path / "x") as tmp:
        tmp.write_bytes(b"data")
        tmp_name = str(tmp)
    assert tmp_name in synced, "the temporary file was not fsynced before the rename"
    assert str(tmp_path) in synced, "the directory was not fsynced after the rename"
    assert synced.index(tmp_name) < synced.index(str(tmp_path))


def ctx_dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return pid
