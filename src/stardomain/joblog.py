"""A workflow job's log: stdout and stderr go to the file of the rule's `log:`, a failing job's
traceback ends it, and SIGTERM (how SLURM stops a job) unwinds like an exception.

Snakemake points to this file when a job fails ("log: logs/..."), locally and on SLURM, so the
reason has to be there, not only on Snakemake's console or in the scheduler's files. The module
imports nothing but the standard library: every script of workflow/scripts/ enters `job` first and
imports the library inside the block, so that a failing import (torch missing on a node, a broken
environment) or a bad setting read by the script ends the log with its traceback too
(tests/test_architecture.py checks every script's shape).
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import traceback
from collections.abc import Iterator
from functools import partial
from pathlib import Path


def _exit_on_sigterm(signum, frame):
    # SLURM stops a job (time limit, preemption, scancel) with SIGTERM: unwind like an exception so
    # that `atomic_path` removes its temporary file and the log is flushed; exit status 128 + 15.
    print("SIGTERM received (time limit, preemption or scancel): stopping", file=sys.stderr)
    sys.exit(143)


def _failed(err: BaseException) -> bool:
    """Whether `err` leaving the job's block is a failure (sys.exit(0) is not)."""
    return not (isinstance(err, SystemExit) and err.code in (0, None))


@contextlib.contextmanager
def job(log_path: str, threads: int = 1) -> Iterator[partial]:
    """Send stdout/stderr (tqdm included) to `log_path`, pin torch to `threads` CPU threads; yields
    a progress bar factory (tqdm writing to the log).

    An exception leaving the block is written to the log (its traceback, last) and re-raised.
    Inside the block SIGTERM raises SystemExit(143) (in the main thread, where Python delivers
    signals).
    """
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm) if main else None
    try:
        with (
            open(log_path, "w") as log,
            contextlib.redirect_stdout(log),
            contextlib.redirect_stderr(log),
        ):
            try:
                # imported here so that a broken torch install is logged like any other failure
                import torch
                from tqdm import tqdm

                torch.set_num_threads(max(1, threads))
                yield partial(tqdm, file=log, mininterval=5.0, ascii=True)
            except BaseException as err:
                if _failed(err):
                    traceback.print_exc(file=log)
                raise
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)
