"""What every stage shares: the device, loading and building models (a job's log and signals:
`stardomain.joblog`).

The stage layer (`stardomain.stages`) is what the workflow's scripts call; see its package docstring.
"""

from __future__ import annotations

import torch

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


def arch_of(model: ModelSettings, data: Data) -> dict:
    """What a model file must match to be loaded: model settings, input shape, classes."""
    return dict(model=model.params(), in_shape=list(data.in_shape), num_classes=data.num_classes)


def new_model(model: ModelSettings, data: Data, seed: int, device) -> torch.nn.Module:
    """The experiment's network for `data`, initialised from `seed`, on `device`."""
    return build_model(model, data.in_shape, data.num_classes, seed).to(device)


def load_state(
    path: str, arch: dict, device, model: str | None = None, made_with: dict | None = None
) -> dict[str, torch.Tensor]:
    """The weights of a model file, checked against `arch` (`arch_of`) and, if given, against
    `model` (the model id the job reads it as) and the settings that made it (`made_with`), as
    `io.load_model` checks them; on `device`."""
    obj = io.load_model(path, arch, model, made_with)
    return {k: v.to(device) for k, v in obj["state"].items()}


def reporter(
    label: str, job: RegularJob | StarJob, role: str, epochs: int, tracker: TrackerSettings | None
):
    """The per-epoch log lines of a training job, and its tracker run (config `tracker`)."""
    run = open_tracker(tracker, label, role, job, "logs")
    return EpochReporter(label, epochs, run)
