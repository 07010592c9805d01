"""What every stage shares: the job's log and signals, the device, loading and building models.

The stage layer (`stardomain.stages`) is what the workflow's scripts call; see its package docstring.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import torch
from tqdm import tqdm

from stardomain import io
from stardomain.data import Data
from stardomain.jobs import RegularJob, StarJob
from stardomain.models import build_model
from stardomain.settings import ModelSettings, TrackerSettings
from stardomain.tracking import EpochReporter, device_report, expected_gpu, open_tracker


def resolve_device(device: str | torch.device) -> torch.device:
    """`auto` -> CUDA if available, else CPU; anything else is passed to `torch.device`.

    Prints the device line of the job's log (stardomain.tracking.device_report: a loud warning
    when `auto` falls back to the CPU on a job given a GPU). A CUDA device that torch cannot see
    (a CPU-only build, no GPU on the node) is an error, never a silent CPU run. An already
    resolved `torch.device` is returned as it is.
    """
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        resolved = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        resolved = torch.device(device)
        if resolved.type == "cuda" and not torch.cuda.is_available():
            gpu = expected_gpu() or "no GPU variable set"
            raise RuntimeError(
                f"device: {device!r}, but torch sees no CUDA device (torch {torch.__version__}, "
                f"CUDA build {torch.version.cuda or 'none'}; {gpu}). Run on a GPU node with a "
                "CUDA build of torch (docs/slurm.md), or set device: auto or cpu"
            )
    print(device_report(device, resolved), flush=True)
    return resolved


def _exit_on_sigterm(signum, frame):
    # SLURM stops a job (time limit, preemption, scancel) with SIGTERM: unwind like an exception so
    # that `atomic_path` removes its temporary file and the log is flushed; exit status 128 + 15.
    sys.exit(143)


@contextlib.contextmanager
def job(log_path: str, threads: int = 1) -> Iterator[partial]:
    """Send stdout/stderr (tqdm included) to `log_path`, pin torch threads; yields a progress bar.

    Inside the block SIGTERM raises SystemExit (in the main thread, where Python delivers signals).
    """
    torch.set_num_threads(max(1, threads))
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm) if main else None
    try:
        with (
            open(log_path, "w") as log,
            contextlib.redirect_stdout(log),
            contextlib.redirect_stderr(log),
        ):
            yield partial(tqdm, file=log, mininterval=5.0, ascii=True)
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)


def arch_of(model: ModelSettings, data: Data) -> dict:
    """What a model file must match to be loaded: model settings, input shape, classes."""
    return dict(model=model.params(), in_shape=list(data.in_shape), num_classes=data.num_classes)


def new_model(model: ModelSettings, data: Data, seed: int, device) -> torch.nn.Module:
    """The experiment's network for `data`, initialised from `seed`, on `device`."""
    return build_model(model, data.in_shape, data.num_classes, seed).to(device)


def load_state(path: str, arch: dict, device) -> dict[str, torch.Tensor]:
    """The weights of a model file, checked against `arch` (`arch_of`), on `device`."""
    return {k: v.to(device) for k, v in io.load_model(path, arch)["state"].items()}


def reporter(
    label: str, job: RegularJob | StarJob, role: str, epochs: int, tracker: TrackerSettings | None
):
    """The per-epoch log lines of a training job, and its tracker run (config `tracker`)."""
    run = open_tracker(tracker, label, role, job, "logs")
    return EpochReporter(label, epochs, run)
