"""Datasets and batch iterators.

The embedded default is scikit-learn's bundled digits (1,797 8x8 greyscale images, 10 classes):
a fixed, seeded, stratified train/test split, pixels scaled to [0, 1] and standardised with the
training split's mean and std. No download, no augmentation.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch


@dataclass
class Split:
    """One split held in memory: x (n, *in_shape) float32, y (n,) int64."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.y)

    def to(self, device: torch.device | str) -> Split:
        return Split(self.x.to(device), self.y.to(device))


@dataclass
class Data:
    """A dataset: `train` (what models are fitted on), `test`, input shape and class count.

    `train` is never augmented here; datasets with augmentation apply it in their loader.
    """

    train: Split
    test: Split
    in_shape: tuple[int, ...]
    num_classes: int


class Batches:
    """Mini-batches over a `Split`; shuffled with its own seeded generator when `shuffle`.

    Iterating twice gives two different orders (the generator advances), reproducibly.
    """

    def __init__(self, split: Split, batch_size: int, shuffle: bool, seed: int = 0):
        self.split, self.batch_size, self.shuffle = split, batch_size, shuffle
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return -(-len(self.split) // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.split)
        if self.shuffle:
            order = torch.randperm(n, generator=self.generator).to(self.split.x.device)
        else:
            order = None
        for start in range(0, n, self.batch_size):
            if order is None:
                sl = slice(start, start + self.batch_size)
                yield self.split.x[sl], self.split.y[sl]
            else:
                idx = order[start : start + self.batch_size]
                yield self.split.x[idx], self.split.y[idx]


def load_digits(test_fraction: float, split_seed: int) -> Data:
    """scikit-learn's digits with a stratified split fixed by `split_seed`."""
    from sklearn.datasets import load_digits as sk_digits
    from sklearn.model_selection import train_test_split

    x, y = sk_digits(return_X_y=True)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=test_fraction, random_state=split_seed, stratify=y
    )
    x_tr = torch.tensor(x_tr, dtype=torch.float32) / 16.0  # pixel values are 0..16
    x_te = torch.tensor(x_te, dtype=torch.float32) / 16.0
    mean, std = x_tr.mean(), x_tr.std()
    return Data(
        train=Split((x_tr - mean) / std, torch.tensor(y_tr, dtype=torch.long)),
        test=Split((x_te - mean) / std, torch.tensor(y_te, dtype=torch.long)),
        in_shape=(64,),
        num_classes=10,
    )


DATASETS = {"digits": lambda cfg: load_digits(cfg["test_fraction"], cfg["split_seed"])}


def load_data(cfg: dict, device: torch.device | str = "cpu") -> Data:
    """Load the dataset named by `cfg["name"]` (the `data:` entry of an experiment) onto `device`."""
    if cfg["name"] not in DATASETS:
        raise ValueError(f"data.name: unknown dataset {cfg['name']!r}; allowed: {sorted(DATASETS)}")
    data = DATASETS[cfg["name"]](cfg)
    data.train, data.test = data.train.to(device), data.test.to(device)
    return data
