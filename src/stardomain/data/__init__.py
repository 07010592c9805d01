"""The dataset registry: `data.name` -> its reader, and what the workflow asks of a data set.

`data.name` is a dataset of `DATASETS` or a user's factory `package.module:function`, called as
`function(**data.kwargs)`, which must return an object with the interface of
`stardomain.data.core.Data`. The readers live in this package (digits, vision for MNIST /
Fashion-MNIST / CIFAR in torchvision's formats, imagenet, ffcv_data, torch_dataset for a user's
`torch.utils.data.Dataset`); they import `stardomain.data.core`, never this module. Readers that
need torchvision import it when called, so that digits needs none.
"""

from __future__ import annotations

import torch

from stardomain.data import ffcv_data, imagenet, vision
from stardomain.data.core import Augment, Batches, Data, Split, to_device
from stardomain.data.digits import load_digits
from stardomain.factories import import_factory, is_import_path
from stardomain.settings import DataSettings

__all__ = [
    "DATASETS",
    "Augment",
    "Batches",
    "Data",
    "Split",
    "fetch_data",
    "host_threads",
    "load_data",
    "load_digits",
    "missing_data",
    "to_device",
]


def _digits(data: DataSettings) -> Data:
    return load_digits(data.test_fraction, data.split_seed)


def _vision(name: str):
    def load(data: DataSettings) -> Data:
        return vision.load(name, data)

    return load


def _imagenet(data: DataSettings):
    """ImageNet's ImageFolder tree through a DataLoader, or (`data.loader: ffcv`) its .beton files."""
    if data.loader == "ffcv":
        return ffcv_data.load(data)
    return imagenet.load(data)


VISION = ("mnist", "fashion_mnist", "cifar10", "cifar100")  # torchvision's on-disk formats
# name -> reader(data settings)
DATASETS = {
    "digits": _digits,
    **{name: _vision(name) for name in VISION},
    "imagenet": _imagenet,
}


def host_threads(data: DataSettings) -> int:
    """CPU threads a job reading the data set `data` keeps busy.

    ImageNet is decoded on the host, by `data.workers` [8] DataLoader processes or FFCV threads,
    next to the job's own process: 1 + workers. Every other data set is tensors in memory: 1.
    """
    if data.name != "imagenet":
        return 1
    return 1 + imagenet.workers_of(data)


def missing_data(data: DataSettings) -> str | None:
    """Why the data set `data` cannot be read, or None if it can.

    Only looks for the expected files and folders (no reading), so that the workflow can refuse a
    run before any job starts: MNIST/CIFAR files with `data.download` off, ImageNet's `train/` and
    `val/` (with `loader: ffcv`, existing .beton files suffice). digits and a user's factory: None.
    """
    name = data.name
    if name in VISION:
        if data.download:
            return None
        root = vision.root_of(name, data)
        missing = vision.missing_files(name, root)
        return vision.missing_message(name, root, missing, data) if missing else None
    if name == "imagenet":
        betons = ffcv_data.beton_paths(data).values() if data.loader == "ffcv" else ()
        if betons and all(p.exists() for p in betons):
            return None
        return imagenet.missing_message(imagenet.root_of(data), data)
    return None


def fetch_data(data: DataSettings) -> None:
    """Download the data set `data` if `data.download` asks for it.

    The workflow calls it once, in its own process, before any job starts (so that parallel jobs
    never download into the same folder); MNIST and CIFAR only, others need nothing.
    """
    if data.download and data.name in vision.LAYOUTS:
        vision.fetch(data.name, data)


def load_data(data: DataSettings, device: torch.device | str = "cpu"):
    """Load the data set `data` (the `data:` of an experiment) for `device`.

    In-memory datasets are moved to `device`; a loader-backed dataset moves each batch there.
    """
    name = data.name
    if is_import_path(name):
        loaded = import_factory(name, "data.name")(**(data.kwargs or {}))
    elif name in DATASETS:
        loaded = DATASETS[name](data)
    else:
        raise ValueError(
            f"data.name: unknown dataset {name!r}; allowed: {sorted(DATASETS)} "
            "or an import path package.module:function"
        )
    return loaded.to(device)
