"""A dataset of one's own as a plain `torch.utils.data.Dataset`, run through the whole workflow.

From the repository root (docs/experiments.md, "Your own model or dataset"):

    PYTHONPATH=examples snakemake --configfile examples/own_dataset.yaml

`blobs` is the factory that `data.name: "own_dataset:blobs"` names; it wraps two Datasets with
`stardomain.data.torch_dataset.TorchData`, which gives them the interface of the built-in data
sets (batches on the job's device, augmentation, resumable order). tests/test_own_data.py runs it.
"""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

from stardomain.data import Augment
from stardomain.data.torch_dataset import TorchData


class Blobs(Dataset):
    """`n` noisy 1x8x8 images; class k brightens row 2k (of 8): a task an MLP learns in seconds."""

    def __init__(self, n: int, classes: int, seed: int):
        g = torch.Generator().manual_seed(seed)
        self.y = torch.arange(n) % classes
        self.x = 0.5 * torch.randn(n, 1, 8, 8, generator=g)  # (n, channels, h, w)
        self.x[torch.arange(n), 0, (2 * self.y) % 8, :] += 2.0

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.x[i], int(self.y[i])


def blobs(n_train: int = 800, n_test: int = 200, classes: int = 4) -> TorchData:
    """Called as blobs(**data.kwargs): train and test Blobs, flipped at random during training."""
    return TorchData(
        Blobs(n_train, classes, seed=0),
        Blobs(n_test, classes, seed=1),
        num_classes=classes,
        augment=Augment(flip=True),  # horizontal flips keep the class (a row)
    )
