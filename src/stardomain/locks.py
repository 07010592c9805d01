"""Locks of our own, for what Snakemake's lock does not protect.

Snakemake locks a working directory only while the run that took the lock lasts, and any run that
ends removes the lock directory: a second run started meanwhile (or with `--nolock`) can then start
the job that the first is still running. Both would write the same model file and its resume side
file, and the second could resume from the first's half-finished epochs. A store shared by several
working directories is never covered by Snakemake's lock at all. So every job that writes a model,
a side file or a store entry holds `hold(<that file>)` while it does:

- a training, Starlight or curve job holds its output's lock for the whole job: a second run's job
  waits (its log says for whom), then finds the model in the store or computes it afresh, never
  from the other run's side file;
- the store holds an entry's lock while it writes the entry and its `.json`.

The lock is `flock` on `<file>.lock` (created beside the file, removed by its holder on release;
Linux maps flock to byte-range locks on NFS, which NFSv4 honours across machines). A process
killed while holding it releases it with its file descriptors. Within one process the lock is
reentrant (a stage calling another stage on the same output).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import inspect
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

_HELD: set[str] = set()  # lock files this process holds


def _open_locked(lock: Path) -> int:
    """A descriptor of `lock` holding an exclusive flock on the file now at that path."""
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
        except (
            PermissionError
        ):  # another user's lock file, not group-writable: flock needs no write
            fd = os.open(lock, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            print(f"{lock}: waiting for {holder}", file=sys.stderr, flush=True)
            fcntl.flock(fd, fcntl.LOCK_EX)
        # the previous holder removes the file on release: lock the file that is there now
        with contextlib.suppress(FileNotFoundError):
            if os.path.samestat(os.fstat(fd), os.stat(lock)):
                return fd
        os.close(fd)


@contextlib.contextmanager
def hold(path: str | os.PathLike) -> Iterator[None]:
    """Hold the exclusive lock of file `path` (`<path>.lock`), waiting while another holds it."""
    lock = Path(f"{path}.lock").absolute()
    if str(lock) in _HELD:  # reentrant within a process
        yield
        return
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = _open_locked(lock)
    _HELD.add(str(lock))
    try:
        with contextlib.suppress(OSError):  # who holds it, for a waiting job's log
            os.ftruncate(fd, 0)
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} since {stamp}".encode(), 0)
        yield
    finally:
        _HELD.discard(str(lock))
        with contextlib.suppress(OSError):  # (a lock file left behind is locked as it is)
            os.unlink(lock)  # while still held, so a waiter re-checks and locks a new file
        os.close(fd)


def holding(argument: str) -> Callable:
    """Decorator: the function runs holding `hold(<its argument named argument>)`."""

    def decorate(func: Callable) -> Callable:
        signature = inspect.signature(func)

        @functools.wraps(func)
        def run(*args, **kwargs):
            with hold(signature.bind(*args, **kwargs).arguments[argument]):
                return func(*args, **kwargs)

        return run

    return decorate
