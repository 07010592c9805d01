"""What a training job reports besides its model file: the device it runs on, one log line per
epoch, a metrics CSV beside the model, and optionally an experiment tracker (Weights & Biases, which
the paper's authors used; the `wandb` extra, config key `tracker`).

The log lines and the tracker get each epoch's history row plus its throughput (images/s); the
metrics CSV is the history stored in the model file, so a model restored from the store gets the
same CSV as the run that trained it.
"""

from __future__ import annotations

import netrc
import os
import sys
from pathlib import Path
from urllib.parse import urlparse

import torch
from tqdm import tqdm

from stardomain import io
from stardomain.jobs import RegularJob, StarJob
from stardomain.settings import TrackerSettings

# Environment variables through which a scheduler hands a job its GPUs (CUDA, SLURM's GRES).
GPU_HINTS = ("CUDA_VISIBLE_DEVICES", "SLURM_JOB_GPUS", "SLURM_STEP_GPUS", "SLURM_GPUS_ON_NODE")
INSTALL_WANDB = "pip install -e '.[wandb]' (or pip install 'stardomain[wandb]')"


def expected_gpu(environ: dict[str, str] | None = None) -> str | None:
    """`NAME=value` of the first variable saying this job was given a GPU, else None."""
    environ = os.environ if environ is None else environ
    for name in GPU_HINTS:
        value = environ.get(name, "").strip()
        none = ("", "-1", "NoDevFiles") + (("0",) if name == "SLURM_GPUS_ON_NODE" else ())
        if value not in none:
            return f"{name}={value}"
    return None


def device_report(requested: str, device: torch.device) -> str:
    """The job log's first line about the device; a loud warning when `device: auto` fell back to
    the CPU although the job was given a GPU (a CPU-only torch build, or a driver problem)."""
    build = f"torch {torch.__version__}, CUDA build {torch.version.cuda or 'none'}"
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    line = f"device: {device} ({name}; config device: {requested}; {build})"
    hint = expected_gpu()
    if requested == "auto" and device.type == "cpu" and hint is not None:
        bar = "!" * 78
        line += (
            f"\n{bar}\nWARNING: device: auto fell back to the CPU, but this job was given a GPU "
            f"({hint}): torch sees no CUDA device ({build}). Training on the CPU is far slower. "
            "Install a CUDA build of torch (docs/slurm.md), or set device: cuda to make this an "
            f"error.\n{bar}"
        )
    return line


def epoch_line(label: str, epochs: int, report: dict) -> str:
    """One log line: `<label> epoch 3/60: lr 0.04, train_loss 0.4123, ..., 1234 images/s`.

    report: a history row (epoch counted from 0, lr, losses, accuracies as fractions) plus
    images_per_s; accuracies are printed in percent, the rest with 4 significant digits.
    """
    values = [
        f"{k} {100 * v:.2f} %" if k.endswith("accuracy") else f"{k} {v:.4g}"
        for k, v in report.items()
        if k not in ("epoch", "images_per_s")
    ]
    speed = f"{report['images_per_s']:.0f} images/s"
    return f"{label} epoch {report['epoch'] + 1}/{epochs}: {', '.join(values)}, {speed}"


def write_metrics_csv(model_path: str | os.PathLike, out: str | os.PathLike) -> None:
    """The per-epoch history stored in a model file, as a CSV (one row per epoch)."""
    import pandas as pd

    metrics = io.load_model(model_path)["metrics"]
    history = metrics["history"] if isinstance(metrics, dict) else metrics
    with io.atomic_path(out) as tmp:
        pd.DataFrame(history).to_csv(tmp, index=False)


class EpochReporter:
    """`on_epoch` of the training loops: a log line per epoch, and the tracker's record."""

    def __init__(self, label: str, epochs: int, run=None):
        self.label, self.epochs, self.run = label, epochs, run

    def __call__(self, report: dict) -> None:
        # above the progress bar (tqdm's own write), not appended to its line
        tqdm.write(epoch_line(self.label, self.epochs, report), file=sys.stdout)
        if self.run is not None:
            self.run.log(report, step=report["epoch"])

    def finish(self) -> None:
        if self.run is not None:
            self.run.finish()


def wandb_login_problem(environ: dict[str, str] | None = None) -> str | None:
    """Why a W&B run cannot start in this environment, or None: W&B needs an API key
    (WANDB_API_KEY, or `wandb login`'s entry in ~/.netrc or $NETRC for its host) unless
    WANDB_MODE is offline or disabled."""
    environ = os.environ if environ is None else environ
    if environ.get("WANDB_MODE", "").lower() in ("offline", "dryrun", "disabled"):
        return None
    if environ.get("WANDB_API_KEY"):
        return None
    host = urlparse(environ.get("WANDB_BASE_URL") or "https://api.wandb.ai").hostname
    path = environ.get("NETRC") or os.path.join(environ.get("HOME") or "~", ".netrc")
    try:
        if netrc.netrc(os.path.expanduser(path)).authenticators(host):
            return None
    except (OSError, netrc.NetrcParseError):  # no file, or one W&B could not read either
        pass
    return (
        f"W&B has no API key here (no WANDB_API_KEY, no {host} entry in {path}) and WANDB_MODE "
        "is not offline, so every training job would fail at its start; run `wandb login`, or "
        "set WANDB_API_KEY, or set WANDB_MODE=offline (runs kept in logs/wandb, uploaded later "
        "with `wandb sync`), or set tracker.name: none"
    )


def open_tracker(
    tracker: TrackerSettings | None, name: str, job_type: str, job: RegularJob | StarJob, folder
):
    """A W&B run for one training job (config `tracker: {name: wandb, ...}`); None when off.

    The run is named `name`, grouped by the job's experiment and carries the job's params as its
    config. `folder`: where W&B writes its files (`<folder>/wandb/`); WANDB_MODE=offline keeps the
    run there without network (upload later with `wandb sync`).
    """
    if tracker is None or tracker.name == "none":
        return None
    try:
        import wandb
    except ImportError as err:
        raise ImportError(f"tracker.name: wandb needs the wandb package; {INSTALL_WANDB}") from err
    Path(folder).mkdir(parents=True, exist_ok=True)
    mode = os.environ.get("WANDB_MODE", "online")
    print(f"tracker: W&B run {name} (project {tracker.project}, mode {mode})")
    return wandb.init(
        project=tracker.project,
        entity=tracker.entity,
        name=name,
        group=job.experiment,
        job_type=job_type,
        config=job.params(),
        dir=str(folder),
        reinit="finish_previous",
    )
