"""Dataset loaders on fake files in torchvision's formats; batches, splits and augmentation."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from stardomain import barrier
from stardomain.data import DATASETS, Augment, Batches, Data, Split, load_data
from stardomain.data.vision import IMAGENET_MEAN, IMAGENET_STD, MNIST_MEAN, MNIST_STD
from stardomain.evaluate import evaluate
from stardomain.models import build_model
from stardomain.settings import DataSettings, EvalSettings, ModelSettings

from conftest import assert_cases_cover
from fake_data import write_cifar, write_imagefolder, write_mnist

MEAN, STD = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)


@pytest.fixture(scope="module")
def cifar10(tmp_path_factory):
    root = tmp_path_factory.mktemp("cifar10")
    raw = write_cifar(root, n_train=100, n_test=40)
    return root, raw, load_data(DataSettings.of(dict(name="cifar10", root=str(root))))


def test_cifar10_shapes_labels_and_45k_5k_split(cifar10):
    _, raw, data = cifar10
    assert data.in_shape == (3, 32, 32) and data.num_classes == 10
    # the authors' split: randperm(n, seed 42), first 90 % train, the rest validation
    order = torch.randperm(100, generator=torch.Generator().manual_seed(42))
    assert (data.size("train"), data.size("val"), data.size("test")) == (90, 10, 40)
    assert torch.equal(data.train.y, torch.from_numpy(raw["y_train"])[order[:90]])
    assert torch.equal(data.val.y, torch.from_numpy(raw["y_train"])[order[90:]])
    assert data.train.y.dtype == torch.long and int(data.train.y.max()) == 9
    assert int(data.train.y.min()) == 0


def test_cifar_pixels_are_normalised_with_imagenet_mean_std(cifar10):
    _, raw, data = cifar10
    # test image 0, channel-first pixel (c, 0, 0) is byte c * 1024 of the CIFAR row
    for c in range(3):
        byte = raw["x_test"][0, c * 1024]
        assert float(data.test.x[0, c, 0, 0]) == pytest.approx(
            (byte / 255 - IMAGENET_MEAN[c]) / IMAGENET_STD[c], abs=1e-5
        )
    assert float(data.test.x[0, 1, 3, 5]) == pytest.approx(
        (raw["x_test"][0, 1024 + 3 * 32 + 5] / 255 - IMAGENET_MEAN[1]) / IMAGENET_STD[1], abs=1e-5
    )


def test_cifar100_reads_fine_labels(tmp_path):
    write_cifar(tmp_path, n_train=200, n_test=100, classes=100)
    data = load_data(DataSettings.of(dict(name="cifar100", root=str(tmp_path), val_fraction=0.0)))
    assert data.num_classes == 100 and data.val is None
    assert data.size("train") == 200 and int(data.test.y.max()) == 99


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_idx_files(tmp_path, gz):
    raw = write_mnist(tmp_path, n_train=100, n_test=30, gz=gz)
    data = load_data(DataSettings.of(dict(name="mnist", root=str(tmp_path))))
    assert data.in_shape == (1, 28, 28) and data.num_classes == 10
    assert (data.size("train"), data.size("val"), data.size("test")) == (90, 10, 30)
    expected = (raw["t10k-images-idx3-ubyte"][2, 4, 7] / 255 - MNIST_MEAN[0]) / MNIST_STD[0]
    assert float(data.test.x[2, 0, 4, 7]) == pytest.approx(expected, abs=1e-5)
    assert data.augment is None  # the authors trained MNIST without augmentation


def test_missing_files_name_the_path_and_the_keys(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"data\.root.*nowhere.*data\.download: true"):
        load_data(DataSettings.of(dict(name="cifar10", root=str(tmp_path / "nowhere"))))
    with pytest.raises(FileNotFoundError, match=r"data\.root: ImageNet folder .*train"):
        load_data(DataSettings.of(dict(name="imagenet", root=str(tmp_path / "nowhere"))))


def test_unaugmented_batches_are_the_stored_split(cifar10):
    _, _, data = cifar10
    xs = torch.cat([x for x, _ in data.batches("train", 32, shuffle=False)])
    assert torch.equal(xs, data.train.x)


def crops(x: torch.Tensor, fill: torch.Tensor, p: int) -> list[torch.Tensor]:
    """Every (flip, dy, dx) crop of the `p`-padded image x (c, h, w)."""
    c, h, w = x.shape
    out = []
    for img in (x, x.flip(2)):
        padded = fill.view(c, 1, 1).repeat(1, h + 2 * p, w + 2 * p)
        padded[:, p : p + h, p : p + w] = img
        out += [
            padded[:, dy : dy + h, dx : dx + w]
            for dy in range(2 * p + 1)
            for dx in range(2 * p + 1)
        ]
    return out


def test_augmented_batches_are_padded_crops_and_flips(cifar10):
    _, _, data = cifar10
    aug = data.augment
    assert aug.padding == 4 and aug.flip
    assert torch.allclose(aug.fill, -MEAN / STD)  # a black pixel after normalisation
    x, _ = next(iter(data.batches("train", 16, shuffle=False, seed=3, augment=True)))
    assert x.shape == (16, 3, 32, 32)
    assert not torch.equal(x, data.train.x[:16])
    for i in range(4):
        assert any(torch.equal(x[i], c) for c in crops(data.train.x[i], aug.fill, 4)), i
    again, _ = next(iter(data.batches("train", 16, shuffle=False, seed=3, augment=True)))
    assert torch.equal(x, again)  # reproducible from the seed


def test_barrier_train_split_is_not_augmented():
    """The barrier evaluates the train split without augmentation, even if the dataset has one."""

    class Wreck(Augment):  # an "augmentation" that destroys every image
        def __call__(self, x, generator):
            return torch.randn_like(x) * 100

    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(64, 1, 6, 6, generator=g), torch.randint(0, 3, (64,), generator=g)
    data = Data(Split(x, y), Split(x[:16], y[:16]), (1, 6, 6), 3, augment=Wreck())
    model = build_model(ModelSettings.of(dict(name="mlp", width=8, depth=1)), (1, 6, 6), 3, seed=0)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    rows = barrier.curve(model, state, state, data, EvalSettings((0.0, 1.0), 32, 32, None, 0))
    clean_loss, _ = evaluate(model, Batches(data.train, 32, shuffle=False))
    train_t0 = next(r for r in rows if r["t"] == 0.0 and r["split"] == "train")
    assert train_t0["loss"] == pytest.approx(clean_loss, rel=1e-6)


def test_imagenet_folder_transforms_and_batches(tmp_path):
    write_imagefolder(tmp_path, classes=2, per_class=3, grey=128)
    data = load_data(DataSettings.of(dict(name="imagenet", root=str(tmp_path), workers=0)))
    assert data.in_shape == (3, 224, 224) and data.num_classes == 2
    assert data.size("train") == 6 and data.size("test") == 6
    x, y = next(iter(data.batches("train", 4, shuffle=False)))
    assert x.shape == (4, 3, 224, 224) and set(y.tolist()) <= {0, 1}
    expected = (128 / 255 - MEAN) / STD  # a uniform grey image, normalised (JPEG: +-2 levels)
    assert torch.allclose(x.mean((0, 2, 3)), expected, atol=0.04)
    x2, _ = next(iter(data.batches("train", 4, shuffle=False)))
    assert torch.equal(x, x2)  # evaluation transform: deterministic
    xa, _ = next(iter(data.batches("train", 4, shuffle=True, seed=1, augment=True)))
    assert xa.shape == (4, 3, 224, 224)
    assert data.sample("test", 2).shape == (2, 3, 224, 224)
    plain = load_data(
        DataSettings.of(dict(name="imagenet", root=str(tmp_path), workers=0, augment=False))
    )
    xp, _ = next(iter(plain.batches("train", 4, shuffle=False, augment=True)))
    assert torch.equal(xp, x)  # data.augment: false turns the training augmentation off


def test_ffcv_loader_without_ffcv_names_the_key_and_the_install(tmp_path, monkeypatch):
    from stardomain.data.ffcv_data import FfcvMissing

    monkeypatch.setitem(sys.modules, "ffcv", None)  # `import ffcv` fails, as where it is absent
    with pytest.raises(FfcvMissing) as err:
        load_data(DataSettings.of(dict(name="imagenet", root=str(tmp_path), loader="ffcv")))
    assert str(err.value).startswith("data.loader: ffcv needs the ffcv package")
    assert "pip install -e '.[ffcv]'" in str(err.value) and "data.loader: torch" in str(err.value)


def test_user_dataset_factory_by_import_path(tmp_path, monkeypatch):
    (tmp_path / "my_data.py").write_text(
        "import torch\n"
        "from stardomain.data import Data, Split\n"
        "def blobs(n, classes):\n"
        "    x = torch.randn(n, 5)\n"
        "    y = torch.arange(n) % classes\n"
        "    return Data(Split(x, y), Split(x[:4], y[:4]), (5,), classes)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    data = load_data(DataSettings.of(dict(name="my_data:blobs", kwargs=dict(n=20, classes=4))))
    assert data.num_classes == 4 and data.size("train") == 20
    with pytest.raises(ValueError, match="data.name: .*no callable 'nope'"):
        load_data(DataSettings.of(dict(name="my_data:nope")))
    sys.modules.pop("my_data", None)


def test_batches_cover_the_split_once_per_epoch():
    split = Split(torch.arange(10.0).view(10, 1, 1, 1), torch.arange(10))
    batches = Batches(split, 3, shuffle=True, seed=0, augment=Augment(padding=0, flip=True))
    for _ in range(2):
        seen = torch.cat([y for _, y in batches])
        assert sorted(seen.tolist()) == list(range(10))
    assert len(batches) == 4


def test_missing_data_is_found_before_reading_anything(tmp_path):
    """stardomain.data.missing_data: what the workflow checks before any job (Snakefile onstart)."""
    from stardomain.data import missing_data

    assert missing_data(DataSettings.of({"name": "digits"})) is None
    for name, write in [("cifar10", write_cifar), ("mnist", write_mnist)]:
        root = tmp_path / name
        problem = missing_data(DataSettings.of({"name": name, "root": str(root)}))
        assert problem.startswith("data.root:") and "data.download: true" in problem
        assert (
            missing_data(DataSettings.of({"name": name, "root": str(root), "download": True}))
            is None
        )
        write(root, n_train=20, n_test=10)
        assert missing_data(DataSettings.of({"name": name, "root": str(root)})) is None
    root = tmp_path / "imagenet"
    assert "ImageNet folder" in missing_data(
        DataSettings.of({"name": "imagenet", "root": str(root)})
    )
    write_imagefolder(root)
    assert missing_data(DataSettings.of({"name": "imagenet", "root": str(root)})) is None


def test_job_threads_count_imagenet_decoding_workers():
    """A job's CPU threads: ImageNet is decoded on the host by data.workers (default 8) + the job."""
    from stardomain.data import host_threads

    assert host_threads(DataSettings.of(dict(name="digits"))) == 1
    assert host_threads(DataSettings.of(dict(name="cifar10", root="x"))) == 1
    assert host_threads(DataSettings.of(dict(name="imagenet"))) == 9
    assert host_threads(DataSettings.of(dict(name="imagenet", workers=3, loader="ffcv"))) == 4
    assert (
        host_threads(DataSettings.of(dict(name="imagenet", workers=0))) == 1
    )  # batches decoded in the job itself


# the data sets whose loaders the tests above read (fake files in each format; digits is bundled)
TESTED_DATASETS = ["digits", "mnist", "fashion_mnist", "cifar10", "cifar100", "imagenet"]


def test_every_dataset_has_a_loader_test():
    assert_cases_cover(DATASETS, TESTED_DATASETS, "stardomain.data.DATASETS", "TESTED_DATASETS")


def test_every_dataset_root_is_data_root_or_the_site_folder(monkeypatch, tmp_path: Path):
    from stardomain.data import imagenet, vision

    monkeypatch.delenv("STARDOMAIN_DATA", raising=False)
    assert vision.root_of("cifar10", DataSettings.of({})) == Path("data/cifar10")
    monkeypatch.setenv("STARDOMAIN_DATA", str(tmp_path))
    assert vision.root_of("mnist", DataSettings.of({})) == tmp_path / "mnist"
    assert imagenet.root_of(DataSettings.of({})) == tmp_path / "imagenet"
    assert vision.root_of("mnist", DataSettings.of({"root": "elsewhere"})) == Path("elsewhere")
