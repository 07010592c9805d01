"""Datasets and batch iterators (PAPER.md, "Experiments in the paper" and "Definitions").

Every dataset offers the same small interface, which training, Starlight and the barrier use:
`data.batches(split, batch_size, shuffle, seed, augment)` iterates (x, y) on the job's device,
`data.size(split)`, `data.sample(split, n)`, `data.in_shape`, `data.num_classes`.

- `Data`: a dataset held in memory as tensors on the training device (digits, MNIST, CIFAR). Its
  training augmentation (CIFAR: pad-4 random crop + horizontal flip) runs on that device, a whole
  batch at a time, from a seeded CPU generator: the GPU-resident fast path, tested on CPU.
- `stardomain.datasets.imagenet.FolderData`: ImageNet-1k through a torch DataLoader.

Splits: `train` (what models are fitted on), `val` (held out of the training files; CIFAR and MNIST
hold out 10 % with seed 42, as the authors) and `test`. Augmentation is applied only where a caller
asks for it (`augment=True`): regular and Starlight training, and BN re-estimation (the paper
re-estimates on the augmented training loader); the barrier's train split is evaluated without it.

`data.name` is a dataset of `DATASETS` or a user's factory `package.module:function`, called as
`function(**data.kwargs)`, which must return an object with this interface (e.g. a `Data`).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from stardomain.io import atomic_path


@dataclass
class Split:
    """One split held in memory: x (n, *in_shape) float32, y (n,) int64."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.y)

    def to(self, device: torch.device | str) -> Split:
        return Split(self.x.to(device), self.y.to(device))


def to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Move a small CPU tensor of random draws to `device`, without stalling a GPU.

    A plain host-to-GPU copy waits for every kernel queued before it; one per batch would keep
    the host from queueing the next step while the GPU runs this one. From pinned memory the copy
    is asynchronous. Same values either way.
    """
    if t.device.type == "cpu" and device.type == "cuda":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


@dataclass
class Augment:
    """Batch augmentation of normalised images: random crop from a `padding`-pixel border, flips.

    fill: per-channel value of a black (zero) pixel after normalisation, (channels,); the border
    is black, as torchvision's RandomCrop(padding=4) pads the unnormalised image with zeros.
    """

    padding: int = 0  # pixels on each side
    flip: bool = False  # horizontal, with probability 1/2
    fill: torch.Tensor | None = None

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Augment a batch x (b, c, h, w) on its own device; random draws come from `generator`."""
        b, c, h, w = x.shape
        p = self.padding
        if p > 0:
            fill = x.new_zeros(c) if self.fill is None else to_device(self.fill, x.device)
            padded = fill.to(x.dtype).view(1, c, 1, 1).repeat(b, 1, h + 2 * p, w + 2 * p)
            padded[:, :, p : p + h, p : p + w] = x
            dy, dx = to_device(torch.randint(0, 2 * p + 1, (2, b), generator=generator), x.device)
            rows = dy[:, None] + torch.arange(h, device=x.device)  # (b, h)
            cols = dx[:, None] + torch.arange(w, device=x.device)  # (b, w)
            batch = torch.arange(b, device=x.device)[:, None, None, None]
            chan = torch.arange(c, device=x.device)[None, :, None, None]
            x = padded[batch, chan, rows[:, None, :, None], cols[:, None, None, :]]  # (b, c, h, w)
        if self.flip:
            flip = to_device(torch.rand(b, generator=generator) < 0.5, x.device).view(b, 1, 1, 1)
            x = torch.where(flip, x.flip(3), x)
        return x


class Batches:
    """Mini-batches over a `Split`; shuffled with its own seeded generator when `shuffle`.

    Iterating twice gives two different orders (the generator advances), reproducibly. With
    `augment`, every batch is augmented on the split's device from the same generator.
    """

    def __init__(
        self,
        split: Split,
        batch_size: int,
        shuffle: bool,
        seed: int = 0,
        augment: Augment | None = None,
    ):
        self.split, self.batch_size, self.shuffle = split, batch_size, shuffle
        self.augment = augment
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return -(-len(self.split) // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.split)
        if self.shuffle:
            order = to_device(torch.randperm(n, generator=self.generator), self.split.x.device)
        else:
            order = None
        for start in range(0, n, self.batch_size):
            if order is None:
                sl = slice(start, start + self.batch_size)
                x, y = self.split.x[sl], self.split.y[sl]
            else:
                idx = order[start : start + self.batch_size]
                x, y = self.split.x[idx], self.split.y[idx]
            yield (x if self.augment is None else self.augment(x, self.generator)), y


@dataclass
class Data:
    """A dataset held in memory: `train`, `test`, optional `val`, input shape and class count.

    `augment` is the training augmentation (None: the dataset has none); it is applied only by
    `batches(..., augment=True)`.
    """

    train: Split
    test: Split
    in_shape: tuple[int, ...]
    num_classes: int
    val: Split | None = None
    augment: Augment | None = field(default=None)

    def split(self, name: str) -> Split:
        """The split called `name` (train, val or test)."""
        found = {"train": self.train, "test": self.test, "val": self.val}.get(name)
        if found is None:
            raise ValueError(
                f"split {name!r} not available; allowed: train, test, val (if held out)"
            )
        return found

    def size(self, name: str) -> int:
        return len(self.split(name))

    def batches(
        self, name: str, batch_size: int, shuffle: bool, seed: int = 0, augment: bool = False
    ) -> Batches:
        """Batches of split `name`; `augment` applies the training augmentation (if any)."""
        return Batches(
            self.split(name), batch_size, shuffle, seed, self.augment if augment else None
        )

    def sample(self, name: str, n: int) -> torch.Tensor:
        """The first `n` inputs of split `name`, unaugmented."""
        return self.split(name).x[:n]

    def to(self, device: torch.device | str) -> Data:
        """Move every split (and the augmentation's fill values) to `device`."""
        self.train, self.test = self.train.to(device), self.test.to(device)
        if self.val is not None:
            self.val = self.val.to(device)
        if self.augment is not None and self.augment.fill is not None:
            self.augment.fill = self.augment.fill.to(device)
        return self


def _cache_dir() -> Path:
    """Where derived, re-creatable data is cached: $STARDOMAIN_CACHE, else ~/.cache/stardomain."""
    default = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "stardomain"
    return Path(os.environ.get("STARDOMAIN_CACHE") or default)


def _digits_split(test_fraction: float, split_seed: int) -> dict[str, np.ndarray]:
    """scikit-learn's digits split by a stratified `train_test_split`; x in 0..16, float64.

    Importing scikit-learn costs about a second, most of a small job's start-up, so the split is
    cached as .npz (keyed by the scikit-learn version and the split's settings); an unreadable or
    unwritable cache only means recomputing it.
    """
    version = importlib.metadata.version("scikit-learn")
    path = _cache_dir() / f"digits-sklearn{version}-test{test_fraction}-seed{split_seed}.npz"
    with contextlib.suppress(OSError, ValueError, KeyError), np.load(path) as cached:
        return {k: cached[k] for k in ("x_tr", "x_te", "y_tr", "y_te")}
    from sklearn.datasets import load_digits as sk_digits
    from sklearn.model_selection import train_test_split

    x, y = sk_digits(return_X_y=True)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=test_fraction, random_state=split_seed, stratify=y
    )
    split = dict(x_tr=x_tr, x_te=x_te, y_tr=y_tr, y_te=y_te)
    with contextlib.suppress(OSError), atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **split)
    return split


def load_digits(test_fraction: float, split_seed: int) -> Data:
    """scikit-learn's digits with a stratified split fixed by `split_seed`.

    1,797 8x8 greyscale images, pixels scaled to [0, 1] and standardised with the training split's
    mean and std; flattened to 64 features. No download, no augmentation.
    """
    split = _digits_split(test_fraction, split_seed)
    x_tr = torch.tensor(split["x_tr"], dtype=torch.float32) / 16.0  # pixel values are 0..16
    x_te = torch.tensor(split["x_te"], dtype=torch.float32) / 16.0
    mean, std = x_tr.mean(), x_tr.std()
    return Data(
        train=Split((x_tr - mean) / std, torch.tensor(split["y_tr"], dtype=torch.long)),
        test=Split((x_te - mean) / std, torch.tensor(split["y_te"], dtype=torch.long)),
        in_shape=(64,),
        num_classes=10,
    )


def _get(cfg: dict, key: str, default):
    value = cfg.get(key)
    return default if value is None else value


def _digits(cfg: dict) -> Data:
    return load_digits(_get(cfg, "test_fraction", 0.2), _get(cfg, "split_seed", 0))


def _vision(name: str):
    def load(cfg: dict) -> Data:
        from stardomain.datasets import vision

        return vision.load(name, cfg)

    return load


def _imagenet(cfg: dict):
    from stardomain.datasets import imagenet

    return imagenet.load(cfg)


VISION = ("mnist", "fashion_mnist", "cifar10", "cifar100")  # torchvision's on-disk formats
# name -> loader(cfg); the vision loaders import lazily so that digits needs no torchvision
DATASETS = {
    "digits": _digits,
    **{name: _vision(name) for name in VISION},
    "imagenet": _imagenet,
}


def host_threads(cfg: dict) -> int:
    """CPU threads a job reading the data set of `data:` settings `cfg` keeps busy.

    ImageNet is decoded on the host, by `data.workers` [8] DataLoader processes or FFCV threads,
    next to the job's own process: 1 + workers. Every other data set is tensors in memory: 1.
    """
    if cfg["name"] != "imagenet":
        return 1
    from stardomain.datasets.imagenet import workers_of

    return 1 + workers_of(cfg)


def missing_data(cfg: dict) -> str | None:
    """Why the dataset of the `data:` settings `cfg` cannot be read, or None if it can.

    Only looks for the expected files and folders (no reading), so that the workflow can refuse a
    run before any job starts: MNIST/CIFAR files with `data.download` off, ImageNet's `train/` and
    `val/` (with `loader: ffcv`, existing .beton files suffice). digits and a user's factory: None.
    """
    name = cfg["name"]
    if name in VISION:
        if cfg.get("download"):
            return None
        from stardomain.datasets import vision

        root = vision.root_of(name, cfg)
        missing = vision.missing_files(name, root)
        return vision.missing_message(name, root, missing) if missing else None
    if name == "imagenet":
        from stardomain.datasets import imagenet

        if cfg.get("loader") == "ffcv":
            from stardomain.datasets import ffcv_data

            if all(p.exists() for p in ffcv_data.beton_paths(cfg).values()):
                return None
        return imagenet.missing_message(imagenet.root_of(cfg))
    return None


def fetch_data(cfg: dict) -> None:
    """Download the dataset of the `data:` settings `cfg` if `data.download` asks for it.

    The workflow calls it once, in its own process, before any job starts (so that parallel jobs
    never download into the same folder); MNIST and CIFAR only, others need nothing.
    """
    from stardomain.datasets import vision

    if cfg.get("download") and cfg["name"] in vision.LAYOUTS:
        vision.fetch(cfg["name"], cfg)


def load_data(cfg: dict, device: torch.device | str = "cpu"):
    """Load the dataset named by `cfg["name"]` (the `data:` entry of an experiment) for `device`.

    In-memory datasets are moved to `device`; a loader-backed dataset moves each batch there.
    """
    from stardomain.models import import_factory, is_import_path

    name = cfg["name"]
    if is_import_path(name):
        data = import_factory(name, "data.name")(**(cfg.get("kwargs") or {}))
    elif name in DATASETS:
        data = DATASETS[name](cfg)
    else:
        raise ValueError(
            f"data.name: unknown dataset {name!r}; allowed: {sorted(DATASETS)} "
            "or an import path package.module:function"
        )
    return data.to(device)
