"""Any `torch.utils.data.Dataset` as a stardomain dataset (the interface of `stardomain.data`).

`TorchData(train, test, num_classes)` takes map-style datasets of (x, y) pairs, x a tensor of one
input (c, h, w) or (features,), y a class index, and serves them through a torch DataLoader with
the interface training, Starlight and the barrier use. Training augmentation is either a batch
`stardomain.data.Augment` applied on the job's device, or a second training set whose items are
drawn with random transforms (`train_augmented`, e.g. torchvision's), used only where training
asks for augmentation; the barrier's train split always reads `train`.

Every random draw of an epoch (order, the DataLoader workers' seeds, `Augment`'s draws) comes from
one seeded generator per `batches` call, which a resumed job restores (stardomain.resume); per-sample
transforms draw from torch's global generator (no workers) or the workers' seeds, both restored too.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader, Dataset

from stardomain.data.core import Augment, to_device


class DatasetBatches:
    """Mini-batches of a Dataset on `device`; iterating twice gives two orders, reproducibly."""

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int,
        shuffle: bool,
        seed: int,
        device: torch.device,
        augment: Augment | None = None,
        workers: int = 0,
    ):
        self.dataset, self.batch_size, self.shuffle = dataset, batch_size, shuffle
        self.device, self.augment, self.workers = device, augment, workers
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return -(-len(self.dataset) // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        # one draw seeds this epoch's DataLoader (order and worker seeds)
        epoch_seed = int(torch.randint(0, 2**62, (), generator=self.generator))
        loader = DataLoader(
            self.dataset,
            batch_size=self.batch_size,
            shuffle=self.shuffle,
            generator=torch.Generator().manual_seed(epoch_seed),
            num_workers=self.workers,
            pin_memory=self.device.type == "cuda",
        )
        for x, y in loader:
            x = x.to(self.device, non_blocking=True)
            if self.augment is not None:
                x = self.augment(x, self.generator)
            yield x, torch.as_tensor(y).to(self.device, non_blocking=True)


class TorchData:
    """Datasets `train`, `test` (and optional `val`) with the interface of `stardomain.data.Data`.

    num_classes: number of classes; in_shape: taken from the first training input.
    augment: batch augmentation on the device; train_augmented: the training set with random
    per-sample transforms (same items as `train`); workers: DataLoader processes.
    """

    def __init__(
        self,
        train: Dataset,
        test: Dataset,
        num_classes: int,
        val: Dataset | None = None,
        augment: Augment | None = None,
        train_augmented: Dataset | None = None,
        workers: int = 0,
    ):
        self.splits = {"train": train, "test": test, **({"val": val} if val is not None else {})}
        self.num_classes, self.augment, self.workers = num_classes, augment, workers
        self.train_augmented = train_augmented
        self.in_shape = tuple(torch.as_tensor(train[0][0]).shape)
        self.device = torch.device("cpu")

    def split(self, name: str) -> Dataset:
        if name not in self.splits:
            raise ValueError(f"split {name!r} not available; allowed: {sorted(self.splits)}")
        return self.splits[name]

    def size(self, name: str) -> int:
        return len(self.split(name))

    def batches(
        self, name: str, batch_size: int, shuffle: bool, seed: int = 0, augment: bool = False
    ) -> DatasetBatches:
        """Batches of split `name`; `augment` uses the training augmentation (if any)."""
        dataset = self.split(name)
        if augment and name == "train" and self.train_augmented is not None:
            dataset = self.train_augmented
        batch_augment = self.augment if augment else None
        return DatasetBatches(
            dataset, batch_size, shuffle, seed, self.device, batch_augment, self.workers
        )

    def sample(self, name: str, n: int) -> torch.Tensor:
        """The first `n` inputs of split `name`, unaugmented, on the device."""
        dataset = self.split(name)
        x = torch.stack([torch.as_tensor(dataset[i][0]) for i in range(min(n, len(dataset)))])
        return to_device(x, self.device)

    def to(self, device: torch.device | str) -> TorchData:
        self.device = torch.device(device)
        if self.augment is not None and self.augment.fill is not None:
            self.augment.fill = self.augment.fill.to(self.device)
        return self
