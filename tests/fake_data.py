"""Small fake datasets written in torchvision's own on-disk formats (no network needed).

CIFAR: python pickles {b"data": (n, 3072) uint8, b"labels" | b"fine_labels": list} in
cifar-10-batches-py/data_batch_1..5 + test_batch, or cifar-100-python/train + test.
MNIST: idx files (magic 0x00000803 images, 0x00000801 labels, big-endian sizes) in MNIST/raw/.
ImageNet: an ImageFolder tree root/{train,val}/<class>/<image>.JPEG.
"""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np


def write_cifar(
    root: Path, n_train: int = 100, n_test: int = 40, classes: int = 10, seed: int = 0
) -> dict:
    """Fake CIFAR-10 (classes=10) or CIFAR-100 (classes=100); returns the arrays written.

    Each image's pixels are random; its label is i % classes, so every class is present.
    """
    rng = np.random.default_rng(seed)
    x_tr = rng.integers(0, 256, (n_train, 3072), dtype=np.uint8)
    x_te = rng.integers(0, 256, (n_test, 3072), dtype=np.uint8)
    y_tr, y_te = [i % classes for i in range(n_train)], [i % classes for i in range(n_test)]
    if classes == 10:
        folder, key = root / "cifar-10-batches-py", b"labels"
        chunks = np.array_split(np.arange(n_train), 5)
        files = {f"data_batch_{i + 1}": c for i, c in enumerate(chunks)}
        files_test = "test_batch"
    else:
        folder, key = root / "cifar-100-python", b"fine_labels"
        files, files_test = {"train": np.arange(n_train)}, "test"
    folder.mkdir(parents=True, exist_ok=True)
    for name, idx in files.items():
        batch = {b"data": x_tr[idx], key: [y_tr[i] for i in idx], b"batch_label": name.encode()}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    (folder / files_test).write_bytes(pickle.dumps({b"data": x_te, key: y_te}, protocol=2))
    return dict(x_train=x_tr, y_train=np.array(y_tr), x_test=x_te, y_test=np.array(y_te))


def _idx(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_mnist(
    root: Path,
    n_train: int = 100,
    n_test: int = 30,
    gz: bool = False,
    seed: int = 0,
    folder: str = "MNIST/raw",
) -> dict:
    """Fake MNIST-format idx files in root/`folder` (gzipped when `gz`; `folder` "" writes them
    flat in root, as Debian's dataset-fashion-mnist); returns the arrays written."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": np.arange(n_train, dtype=np.uint8) % 10,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": np.arange(n_test, dtype=np.uint8) % 10,
    }
    out = root / folder
    out.mkdir(parents=True, exist_ok=True)
    for name, array in arrays.items():
        if gz:
            (out / f"{name}.gz").write_bytes(gzip.compress(_idx(array)))
        else:
            (out / name).write_bytes(_idx(array))
    return arrays


def write_imagefolder(
    root: Path, classes: int = 2, per_class: int = 3, size=(300, 260), grey: int = 128
) -> None:
    """Uniform grey JPEGs (value `grey`) in root/train/<class>/ and root/val/<class>/."""
    from PIL import Image

    for split in ("train", "val"):
        for c in range(classes):
            folder = root / split / f"n{c:08d}"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                Image.new("RGB", size, (grey, grey, grey)).save(folder / f"img{i}.JPEG")


def write_imagefolder_smooth(
    root: Path, classes: int = 3, per_class: tuple[int, int] = (4, 2), seed: int = 0
) -> None:
    """Distinct smooth colour JPEGs of varied sizes in root/train/<class>/ and root/val/<class>/.

    per_class: images per class in train/ and val/. Each image is a random 4x5 grid of colours
    enlarged bicubically to a size between 230 and 420 pixels a side: smooth, so that resizing
    methods (OpenCV's, PIL's) agree closely, and different in every image, so that batches can be
    told apart.
    """
    from PIL import Image

    rng = np.random.default_rng(seed)
    for split, n in zip(("train", "val"), per_class, strict=True):
        for c in range(classes):
            folder = root / split / f"n{c:08d}"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                grid = rng.integers(0, 256, (4, 5, 3), dtype=np.uint8)
                size = tuple(int(s) for s in rng.integers(230, 421, 2))  # (width, height)
                image = Image.fromarray(grid).resize(size, Image.Resampling.BICUBIC)
                image.save(folder / f"img{i}.JPEG", quality=95)
