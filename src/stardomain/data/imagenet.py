"""ImageNet-1k from an ImageFolder tree (root/train/<class>/*.JPEG, root/val/<class>/*.JPEG).

As the authors (and torchvision's reference recipe): training batches use RandomResizedCrop(224) and
a horizontal flip; evaluation (the barrier's train split included) uses Resize(256) + CenterCrop(224);
both normalise with ImageNet's mean and std. Batches come from a torch DataLoader with `data.workers`
processes and are moved to the job's device (`data.loader: ffcv`: FFCV's Loader over `.beton`
files instead, `stardomain.data.ffcv_data`). torchvision cannot download ImageNet: the tree must
exist. The `test` split is the official validation set (`val/`); there is no extra `val` split.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import torch

from stardomain.data import vision
from stardomain.data.vision import IMAGENET_MEAN, IMAGENET_STD, DataMissing
from stardomain.settings import DataSettings

WORKERS = 8  # `data.workers` left out: DataLoader processes (or FFCV decoding threads)


def root_of(data: DataSettings) -> Path:
    """The ImageFolder tree of `data`: data.root [<site data folder>/imagenet]."""
    return vision.root_of("imagenet", data)


def workers_of(data: DataSettings) -> int:
    """`data.workers`, default WORKERS."""
    return WORKERS if data.workers is None else data.workers


FOLDERS = {"train": "train", "test": "val"}


def transform(augment: bool, size: int = 224):
    """The training (augment) or evaluation transform."""
    from torchvision import transforms as T

    norm = [T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
    if augment:
        return T.Compose([T.RandomResizedCrop(size), T.RandomHorizontalFlip(), *norm])
    return T.Compose([T.Resize(size * 256 // 224), T.CenterCrop(size), *norm])


def missing_message(root: Path, data: DataSettings | None = None) -> str | None:
    """Why no ImageFolder tree can be read under `root` (a folder is absent), or None; starts with
    the key that chose `root` (`vision.root_source` of the data set `data`)."""
    key, source = vision.root_source("imagenet", data) if data else ("data.root", repr(str(root)))
    for folder in FOLDERS.values():
        path = root / folder
        if not path.is_dir():
            return (
                f"{key}: ImageNet folder {path} not found ({key} = {source}); "
                f"expected {root}/train/<class>/*.JPEG and {root}/val/<class>/*.JPEG "
                "(torchvision cannot download ImageNet)"
            )
    return None


class DeviceLoader:
    """Iterates a DataLoader and moves every batch to `device`; len() = number of batches."""

    def __init__(self, loader, device: torch.device):
        self.loader, self.device = loader, device

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for x, y in self.loader:
            yield x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)


class FolderData:
    """A dataset read from ImageFolder trees with the same interface as `stardomain.data.Data`."""

    def __init__(self, root: Path, workers: int, augment: bool = True, image_size: int = 224):
        from torchvision.datasets import ImageFolder

        self.root, self.workers, self.image_size = root, workers, image_size
        self.device = torch.device("cpu")
        self.folders = {}
        message = missing_message(root)
        if message is not None:
            raise DataMissing(message)
        for split, folder in FOLDERS.items():
            path = root / folder
            plain = ImageFolder(str(path), transform(False, image_size))
            # without training augmentation (data.augment: false) both loaders are the plain one
            augmented = ImageFolder(str(path), transform(True, image_size)) if augment else plain
            self.folders[split] = {False: plain, True: augmented}
        self.num_classes = len(self.folders["train"][False].classes)
        self.in_shape = (3, image_size, image_size)

    def size(self, name: str) -> int:
        return len(self.folders[name][False])

    def batches(
        self, name: str, batch_size: int, shuffle: bool, seed: int = 0, augment: bool = False
    ) -> DeviceLoader:
        """A DataLoader over split `name`; the order and augmentation draws follow `seed`."""
        if name not in self.folders:
            raise ValueError(f"split {name!r} not available; allowed: {sorted(self.folders)}")
        loader = torch.utils.data.DataLoader(
            self.folders[name][augment],
            batch_size=batch_size,
            shuffle=shuffle,
            generator=torch.Generator().manual_seed(seed),
            num_workers=self.workers,
            pin_memory=self.device.type == "cuda",
            persistent_workers=False,
        )
        return DeviceLoader(loader, self.device)

    def sample(self, name: str, n: int) -> torch.Tensor:
        """The first `n` inputs of split `name` (evaluation transform), on the device."""
        ds = self.folders[name][False]
        return torch.stack([ds[i][0] for i in range(min(n, len(ds)))]).to(self.device)

    def to(self, device: torch.device | str) -> FolderData:
        self.device = torch.device(device)
        return self


def load(data: DataSettings):
    """ImageNet from `data.root` (default <site data folder>/imagenet) with `data.workers` loader processes.

    (`data.loader: ffcv` reads the `.beton` files written from that tree instead: the registry,
    `stardomain.data`, calls `ffcv_data.load` then.)
    """
    return FolderData(root_of(data), workers_of(data), data.augment is not False)
