"""MNIST, Fashion-MNIST, CIFAR-10 and CIFAR-100 from torchvision's on-disk formats, in memory.

Files are read directly (CIFAR: the python pickles of cifar-10-batches-py / cifar-100-python;
MNIST and Fashion-MNIST: the idx files of MNIST/raw or FashionMNIST/raw, plain or gzipped, or the
same four files flat in the root folder, as Debian's `dataset-fashion-mnist` package installs them
in /usr/share/datasets/fashion-mnist), so any copy in torchvision's layout works; torchvision
downloads them when `data.download` is true. As the authors: 10 % of the training files held out as
validation by a permutation from seed 42; CIFAR normalised with ImageNet's mean and std and trained
with pad-4 random crop + horizontal flip; MNIST and Fashion-MNIST normalised with their own training
images' mean and std, no augmentation.
"""

from __future__ import annotations

import gzip
import os
import pickle
from pathlib import Path

import numpy as np
import torch

from stardomain.data.core import Augment, Data, Split
from stardomain.settings import DataSettings

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
MNIST_MEAN, MNIST_STD = (0.1307,), (0.3081,)
# the 60,000 training images of Fashion-MNIST, pixels in [0, 1] (measured on the original files)
FASHION_MNIST_MEAN, FASHION_MNIST_STD = (0.2860,), (0.3530,)
IDX_TRAIN = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte"]
IDX_TEST = ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]

# name -> (folder under root, train files, test files, label key, classes, mean, std, torchvision class)
LAYOUTS = {
    "cifar10": (
        "cifar-10-batches-py",
        [f"data_batch_{i}" for i in range(1, 6)],
        ["test_batch"],
        b"labels",
        10,
        IMAGENET_MEAN,
        IMAGENET_STD,
        "CIFAR10",
    ),
    "cifar100": (
        "cifar-100-python",
        ["train"],
        ["test"],
        b"fine_labels",
        100,
        IMAGENET_MEAN,
        IMAGENET_STD,
        "CIFAR100",
    ),
    "mnist": ("MNIST/raw", IDX_TRAIN, IDX_TEST, None, 10, MNIST_MEAN, MNIST_STD, "MNIST"),
    "fashion_mnist": (
        "FashionMNIST/raw",
        IDX_TRAIN,
        IDX_TEST,
        None,
        10,
        FASHION_MNIST_MEAN,
        FASHION_MNIST_STD,
        "FashionMNIST",
    ),
}
IDX_DATASETS = ("mnist", "fashion_mnist")
# where an operating-system package installs a dataset's files (flat), used when data.root is unset
# and data/<name> holds none: Debian/Ubuntu `apt-get install dataset-fashion-mnist`
SYSTEM_ROOTS = {"fashion_mnist": Path("/usr/share/datasets/fashion-mnist")}
INSTALL_HINTS = {"fashion_mnist": "apt-get install dataset-fashion-mnist (Debian/Ubuntu), "}


class DataMissing(FileNotFoundError):
    """Dataset files are absent and `data.download` is off."""


def read_cifar(path: Path, label_key: bytes) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR python pickle -> images (n, 32, 32, 3) uint8, labels (n,) int64."""
    with open(path, "rb") as f:
        batch = pickle.load(f, encoding="bytes")
    x = np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return x, np.asarray(batch[label_key], dtype=np.int64)


def read_idx(path: Path) -> np.ndarray:
    """An idx file (LeCun's MNIST format: 0, 0, dtype 0x08, ndim, big-endian sizes, data), or .gz."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte idx file (magic {raw[:4].hex()})")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    # a writable copy: torch does not wrap read-only buffers
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape).copy()


def _find(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.exists():
            return candidate
    return None


def folder_of(name: str, root: Path) -> Path:
    """The folder holding `name`'s files: torchvision's sub-folder of `root`, or `root` itself
    when the idx files lie flat in it (mnist, fashion_mnist)."""
    folder_name, train_files, *_ = LAYOUTS[name]
    nested = _find(root / folder_name, train_files[0]) is not None
    if name in IDX_DATASETS and not nested and _find(root, train_files[0]) is not None:
        return root
    return root / folder_name


def missing_files(name: str, root: Path) -> list[str]:
    """Files of dataset `name` that are not in its folder under `root` (see `folder_of`)."""
    _, train_files, test_files, *_ = LAYOUTS[name]
    folder = folder_of(name, root)
    return [f for f in train_files + test_files if _find(folder, f) is None]


def missing_message(
    name: str, root: Path, missing: list[str], data: DataSettings | None = None
) -> str:
    """What to tell a user whose `name` files are `missing` under `root`, starting with the key
    that chose `root` (`root_source` of the data set `data`; unknown: data.root)."""
    folder_name, *_, tv_class = LAYOUTS[name]
    where = f"{root / folder_name}" + (f" or flat in {root}" if name in IDX_DATASETS else "")
    key, source = root_source(name, data) if data is not None else ("data.root", f"{str(root)!r}")
    return (
        f"{key}: {name} files {missing} not found in {where} "
        f"({key} = {source}); {INSTALL_HINTS.get(name, '')}put torchvision's "
        f"{tv_class} files there or set data.download: true"
    )


def _ensure_files(name: str, root: Path, download: bool) -> Path:
    *_, tv_class = LAYOUTS[name]
    missing = missing_files(name, root)
    if missing and download:
        import torchvision

        for train in (True, False):
            getattr(torchvision.datasets, tv_class)(str(root), train=train, download=True)
        missing = missing_files(name, root)
    if missing:
        raise DataMissing(missing_message(name, root, missing))
    return folder_of(name, root)


def read_raw(name: str, root: Path, download: bool) -> tuple[np.ndarray, ...]:
    """Train images, train labels, test images, test labels (uint8 images, channels last)."""
    folder = _ensure_files(name, root, download)
    _, train_files, test_files, label_key, *_ = LAYOUTS[name]
    if name in IDX_DATASETS:
        images, labels = (read_idx(_find(folder, f)) for f in train_files)
        t_images, t_labels = (read_idx(_find(folder, f)) for f in test_files)
        return (
            images[..., None],
            labels.astype(np.int64),
            t_images[..., None],
            t_labels.astype(np.int64),
        )
    train = [read_cifar(_find(folder, f), label_key) for f in train_files]
    x_te, y_te = read_cifar(_find(folder, test_files[0]), label_key)
    return np.concatenate([x for x, _ in train]), np.concatenate([y for _, y in train]), x_te, y_te


def to_tensor(images: np.ndarray, mean, std) -> torch.Tensor:
    """uint8 (n, h, w, c) -> normalised float32 (n, c, h, w), as ToTensor + Normalize."""
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 255.0
    return (x - torch.tensor(mean).view(1, -1, 1, 1)) / torch.tensor(std).view(1, -1, 1, 1)


def val_split(n: int, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices (train, val): a permutation of range(n) from `seed`, the first 1 - fraction for train.

    The authors' split: randperm(n, seed 42), cut at int(0.9 n): 45,000 / 5,000 for CIFAR.
    """
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    cut = int(n * (1 - fraction))
    return order[:cut], order[cut:]


DATA_ENV = "STARDOMAIN_DATA"  # the site's data folder (the workflow sets it from `data_root`)


def root_of(name: str, data: DataSettings) -> Path:
    """Where the files of dataset `name` are, for a `data:` config (every dataset's one place).

    data.root if set, else <site folder>/<name>: the site folder is $STARDOMAIN_DATA (the
    workflow's top-level `data_root` sets it), else `data` in the working directory. Where that
    folder holds no files and an operating-system package installed them (`SYSTEM_ROOTS`: Debian's
    dataset-fashion-mnist), the package's folder.
    """
    if data.root:
        return Path(data.root)
    default = Path(os.environ.get(DATA_ENV) or "data") / name
    system = SYSTEM_ROOTS.get(name)
    if system is not None and missing_files(name, default) and not missing_files(name, system):
        return system
    return default


def root_source(name: str, data: DataSettings) -> tuple[str, str]:
    """The config key that decides where `name`'s files are for the data set `data` (see
    `root_of`), and its value as a message shows it: data.root, or the top-level data_root (the
    site folder, $STARDOMAIN_DATA), or data.root unset (its default)."""
    if data.root:
        return "data.root", repr(str(data.root))
    if os.environ.get(DATA_ENV):
        site = os.environ[DATA_ENV]
        return "data_root", f"{site!r}, the site's data folder: <data_root>/{name}"
    return "data.root", f"unset, so {str(root_of(name, data))!r}; or set the top-level data_root"


def fetch(name: str, data: DataSettings) -> None:
    """Download the files of `name` into its root if absent (torchvision; MNIST and CIFAR)."""
    _ensure_files(name, root_of(name, data), download=True)


def load(name: str, data: DataSettings) -> Data:
    """Load `name` (mnist, fashion_mnist, cifar10, cifar100) with the settings `data` onto the CPU."""
    root = root_of(name, data)
    *_, num_classes, mean, std, _ = LAYOUTS[name]
    x_tr, y_tr, x_te, y_te = read_raw(name, root, data.download)
    x, y = to_tensor(x_tr, mean, std), torch.from_numpy(y_tr)
    train_idx, val_idx = val_split(len(y), data.val_fraction, data.split_seed)
    val = Split(x[val_idx], y[val_idx]) if len(val_idx) else None
    augment = None
    if name.startswith("cifar") and data.augment:
        fill = (0.0 - torch.tensor(mean)) / torch.tensor(std)  # a black pixel, normalised
        augment = Augment(padding=4, flip=True, fill=fill)
    return Data(
        train=Split(x[train_idx], y[train_idx]),
        test=Split(to_tensor(x_te, mean, std), torch.from_numpy(y_te)),
        in_shape=tuple(x.shape[1:]),
        num_classes=num_classes,
        val=val,
        augment=augment,
    )
