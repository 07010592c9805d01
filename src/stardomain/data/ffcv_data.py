"""ImageNet (or any ImageFolder tree) through FFCV, the loader the paper's authors used.

`write_beton` converts one split of root/{train,val}/<class>/*.JPEG into an FFCV `.beton` file: each
image shrunk so that its longer side is at most `max_resolution` pixels (never enlarged), stored as a
JPEG of quality `jpeg_quality` with probability `compress_probability` and as raw pixels otherwise
(FFCV's `proportion` mode), with its ImageFolder label. The defaults 500 / 0.50 / 90 are the files of
FFCV's ImageNet recipe. `BetonData` reads the files with `ffcv.loader.Loader` behind the interface of
`stardomain.data` (`batches`, `size`, `sample`, `to`, `in_shape`, `num_classes`).

Transforms, as the torch path (`stardomain.data.imagenet`): training batches are decoded with a
random resized crop (scale 0.08-1, aspect ratio 3/4-4/3, as torchvision) and flipped horizontally
with probability 1/2; evaluation batches (the barrier's train split included) are decoded with the
centre crop of Resize(256) + CenterCrop(224): a square of 224/256 of the shorter side, resized to
`image_size`. Both are normalised with ImageNet's mean and std on the job's device. FFCV resizes
with OpenCV, so pixels differ slightly from torchvision's (tests/test_ffcv.py measures how much).

The order of a shuffled split comes from a torch generator seeded with `seed` (one draw per pass),
so `stardomain.resume` saves and restores it as for the other loaders. FFCV's augmentation draws
come from numba's per-thread generators and are not seeded.

The ffcv package is imported inside functions only: the rest of stardomain works without it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import torch

from stardomain.data.imagenet import FOLDERS, root_of, workers_of
from stardomain.data.vision import IMAGENET_MEAN, IMAGENET_STD, DataMissing
from stardomain.io import atomic_path
from stardomain.settings import DataSettings, FfcvSettings

# data.ffcv settings [defaults]: FFCV's ImageNet files (longer side <= 500 px, half JPEG q 90)
DEFAULTS = FfcvSettings()
# evaluation crop side / shorter image side: Resize(256) + CenterCrop(224)
EVAL_CROP = 224 / 256
INSTALL = (
    "pip install -e '.[ffcv]' after `apt-get install pkg-config libopencv-dev libturbojpeg0-dev` "
    "(docs/experiments.md)"
)


# One Loader per file and setting for the life of the process: building one compiles its pipeline
# with numba (seconds), and freeing one runs numba finalizers that fail on FFCV's compiled functions
# (a KeyError printed as "Exception ignored"; under pytest it can break a concurrent ast.parse).
_LOADERS: dict[tuple, object] = {}


class FfcvMissing(ImportError):
    """`data.loader: ffcv` is set but the ffcv package cannot be imported."""


def require_ffcv() -> None:
    """Import ffcv or raise `FfcvMissing` naming the config key and the install command."""
    try:
        import ffcv  # noqa: F401
    except ImportError as err:
        raise FfcvMissing(
            f"data.loader: ffcv needs the ffcv package, which is not importable ({err}); {INSTALL}, "
            "or set data.loader: torch"
        ) from err


def folder_of(data: DataSettings) -> Path:
    """The folder of the `.beton` files of `data`: data.ffcv.dir [<root>/ffcv]."""
    ffcv = data.ffcv or DEFAULTS
    return Path(ffcv.dir) if ffcv.dir else root_of(data) / "ffcv"


def beton_name(split: str, max_resolution: int, compress_probability: float, jpeg_quality: int):
    """File name of a split's `.beton`: the ImageFolder folder and the settings that wrote it."""
    return f"{FOLDERS[split]}_{max_resolution}_{compress_probability:.2f}_{jpeg_quality}.beton"


def beton_paths(data: DataSettings) -> dict[str, Path]:
    """Split (train, test) -> `.beton` file of `data`; different settings, other files."""
    f = data.ffcv or DEFAULTS
    return {
        split: folder_of(data)
        / beton_name(split, f.max_resolution, f.compress_probability, f.jpeg_quality)
        for split in FOLDERS
    }


def beton_sources(data: DataSettings) -> dict[Path, dict]:
    """`.beton` file -> the `write_beton` arguments that write it (root, split, settings)."""
    f = data.ffcv or DEFAULTS
    return {
        path: dict(
            root=str(root_of(data)),
            split=split,
            max_resolution=f.max_resolution,
            compress_probability=f.compress_probability,
            jpeg_quality=f.jpeg_quality,
        )
        for split, path in beton_paths(data).items()
    }


def write_beton(
    out: str | Path,
    root: str | Path,
    split: str,
    max_resolution: int = DEFAULTS.max_resolution,
    compress_probability: float = DEFAULTS.compress_probability,
    jpeg_quality: int = DEFAULTS.jpeg_quality,
    workers: int = 1,
) -> int:
    """Write split `split` (train: root/train, test: root/val) to the `.beton` file `out`.

    Labels are ImageFolder's class indices of root/train (sorted folder names), which root/val must
    repeat. `workers`: writer processes. The file appears only when complete. Returns the number of
    images written.
    """
    require_ffcv()
    from ffcv.fields import IntField, RGBImageField
    from ffcv.writer import DatasetWriter
    from torchvision.datasets import ImageFolder

    root = Path(root)
    folders = {s: root / f for s, f in FOLDERS.items()}
    for path in {folders["train"], folders[split]}:
        if not path.is_dir():
            raise DataMissing(
                f"data.root: ImageFolder folder {path} not found (data.root = {root})"
            )
    images = ImageFolder(str(folders[split]))  # (PIL RGB image, class index) pairs
    classes = sorted(p.name for p in folders["train"].iterdir() if p.is_dir())
    if images.classes != classes:
        raise ValueError(
            f"data.root: the classes of {folders[split]} differ from those of {folders['train']} "
            f"({len(images.classes)} vs {len(classes)} folders): labels would not agree"
        )
    image = RGBImageField(
        write_mode="proportion",
        max_resolution=max_resolution,
        compress_probability=compress_probability,
        jpeg_quality=jpeg_quality,
    )
    with atomic_path(out) as tmp:
        writer = DatasetWriter(str(tmp), {"image": image, "label": IntField()}, num_workers=workers)
        writer.from_indexed_dataset(images, chunksize=100)
    return len(images)


class BetonBatches:
    """Iterates an FFCV Loader as (x, y) on `device`: x (b, 3, s, s) float32, normalised; y (b,) int64.

    A shuffled loader takes a new order on every pass from `generator` (seeded by the caller).
    """

    def __init__(self, loader, shuffle: bool, seed: int, device: torch.device):
        self.loader, self.shuffle, self.device = loader, shuffle, device
        self.generator = torch.Generator().manual_seed(seed)
        self.mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1) * 255
        self.std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1) * 255

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if self.shuffle:  # FFCV's RANDOM order permutes with numpy's generator seeded seed + epoch
            self.loader.next_epoch = int(torch.randint(2**31 - 1, (), generator=self.generator))
        threads = torch.get_num_threads()
        for x, y in self.loader:
            torch.set_num_threads(threads)  # FFCV set torch's threads to its own worker count
            # FFCV reuses its batch buffers: copy (to the device, as float) before the next batch
            x = x.to(self.device).permute(0, 3, 1, 2).float()  # (b, h, w, 3) uint8 -> (b, 3, h, w)
            x = ((x - self.mean) / self.std).contiguous()
            yield x, y.to(self.device, torch.long, copy=True).view(-1)


class BetonData:
    """ImageFolder splits read from `.beton` files, with the interface of `stardomain.data.Data`.

    paths: split (train, test) -> `.beton` file (`write_beton`); workers: FFCV decoding threads.
    """

    def __init__(
        self, paths: dict[str, Path], workers: int, augment: bool = True, image_size: int = 224
    ):
        require_ffcv()
        from ffcv.reader import Reader

        self.paths = {split: Path(p) for split, p in paths.items()}
        for split, path in self.paths.items():
            if not path.is_file():
                raise DataMissing(
                    f"data.ffcv.dir: {split} file {path} not found; the workflow writes it "
                    "(rule ffcv_beton) from data.root, or call stardomain.data.ffcv_data."
                    "write_beton"
                )
        self.workers, self.augment, self.image_size = max(1, workers), augment, image_size
        self.device = torch.device("cpu")
        readers = {split: Reader(str(path)) for split, path in self.paths.items()}
        self.sizes = {split: int(r.num_samples) for split, r in readers.items()}
        label = list(readers["train"].handlers).index("label")  # metadata column f<index>
        self.num_classes = int(readers["train"].metadata[f"f{label}"].max()) + 1
        self.in_shape = (3, image_size, image_size)

    def size(self, name: str) -> int:
        return self.sizes[name]

    def _loader(self, name: str, batch_size: int, shuffle: bool, augment: bool, n=None):
        """The (cached) Loader of split `name`; n: only its first n images."""
        from ffcv.fields.decoders import (
            CenterCropRGBImageDecoder,
            IntDecoder,
            RandomResizedCropRGBImageDecoder,
        )
        from ffcv.loader import Loader, OrderOption
        from ffcv.transforms import RandomHorizontalFlip, ToTensor

        if name not in self.paths:
            raise ValueError(f"split {name!r} not available; allowed: {sorted(self.paths)}")
        augment = augment and self.augment
        key = (
            str(self.paths[name]),
            batch_size,
            shuffle,
            augment,
            n,
            self.workers,
            self.image_size,
        )
        if key in _LOADERS:
            return _LOADERS[key]
        side = (self.image_size, self.image_size)
        if augment:
            image = [RandomResizedCropRGBImageDecoder(side), RandomHorizontalFlip()]
        else:
            image = [CenterCropRGBImageDecoder(side, ratio=EVAL_CROP)]
        threads = torch.get_num_threads()  # restored: FFCV sets torch's to its worker count
        _LOADERS[key] = Loader(
            str(self.paths[name]),
            batch_size=batch_size,
            num_workers=self.workers,
            order=OrderOption.RANDOM if shuffle else OrderOption.SEQUENTIAL,
            seed=0,  # the pass number, drawn by BetonBatches, varies the order
            indices=None if n is None else list(range(n)),
            drop_last=False,
            os_cache=True,  # memory-map the file: the OS page cache keeps what fits in RAM
            pipelines={"image": [*image, ToTensor()], "label": [IntDecoder(), ToTensor()]},
        )
        torch.set_num_threads(threads)
        return _LOADERS[key]

    def batches(
        self, name: str, batch_size: int, shuffle: bool, seed: int = 0, augment: bool = False
    ) -> BetonBatches:
        """Batches of split `name`; the order follows `seed`; `augment`: the training transform."""
        loader = self._loader(name, batch_size, shuffle, augment)
        return BetonBatches(loader, shuffle, seed, self.device)

    def sample(self, name: str, n: int) -> torch.Tensor:
        """The first `n` inputs of split `name` (evaluation transform), on the device."""
        n = min(n, self.size(name))
        loader = self._loader(name, n, shuffle=False, augment=False, n=n)
        return next(iter(BetonBatches(loader, False, 0, self.device)))[0]

    def to(self, device: torch.device | str) -> BetonData:
        self.device = torch.device(device)
        return self


def load(data: DataSettings) -> BetonData:
    """The `.beton` files of `data` (`beton_paths`) with `data.workers` threads [8]."""
    return BetonData(beton_paths(data), workers_of(data), data.augment is not False)
