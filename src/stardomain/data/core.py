"""The data interface every stage uses: splits held as tensors, batch iterators, augmentation.

Every dataset offers the same small interface, which training, Starlight and the barrier use:
`data.batches(split, batch_size, shuffle, seed, augment)` iterates (x, y) on the job's device,
`data.size(split)`, `data.sample(split, n)`, `data.in_shape`, `data.num_classes`.

- `Data`: a dataset held in memory as tensors on the training device (digits, MNIST, CIFAR). Its
  training augmentation (CIFAR: pad-4 random crop + horizontal flip) runs on that device, a whole
  batch at a time, from a seeded CPU generator: the GPU-resident fast path, tested on CPU.
- `stardomain.data.imagenet.FolderData`: ImageNet-1k through a torch DataLoader.

Splits: `train` (what models are fitted on), `val` (held out of the training files; CIFAR and MNIST
hold out 10 % with seed 42, as the authors) and `test`. Augmentation is applied only where a caller
asks for it (`augment=True`): regular and Starlight training, and BN re-estimation (the paper
re-estimates on the augmented training loader, docs/method.md); the barrier's train split is
evaluated without it.

This module imports no dataset: the readers (digits, vision, imagenet, ffcv_data, torch_dataset)
import it, and the registry (`stardomain.data`) imports them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

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
