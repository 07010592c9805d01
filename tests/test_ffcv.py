"""FFCV data path (stardomain.data.ffcv_data): .beton files written from a small ImageFolder
tree, read back through ffcv.loader.Loader and compared with the torchvision path on the same images.

Skipped where ffcv is not installed (it needs system libraries: docs/experiments.md); CI installs it.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch

pytest.importorskip("ffcv")

from stardomain.data import (
    imagenet,  # noqa: E402
    load_data,  # noqa: E402
)
from stardomain.data.ffcv_data import (  # noqa: E402
    BetonData,
    beton_paths,
    beton_sources,
    write_beton,
)
from stardomain.data.vision import DataMissing  # noqa: E402
from stardomain.resume import order_generator  # noqa: E402
from stardomain.settings import DataSettings

from fake_data import write_imagefolder_smooth  # noqa: E402

CLASSES, N_TRAIN, N_TEST = 3, 12, 6  # 4 train and 2 val images per class


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """An ImageFolder tree and its .beton files (raw pixels: the transforms alone are compared)."""
    root = tmp_path_factory.mktemp("imagefolder")
    write_imagefolder_smooth(root, CLASSES, (N_TRAIN // CLASSES, N_TEST // CLASSES))
    cfg = dict(name="imagenet", root=str(root), loader="ffcv", ffcv=dict(compress_probability=0.0))
    for path, source in beton_sources(DataSettings.of(cfg)).items():
        start = time.perf_counter()
        n = write_beton(path, **source, workers=1)
        print(f"write_beton {source['split']}: {n} images in {time.perf_counter() - start:.2f} s")
    return root


def ffcv_cfg(root: Path, **extra) -> dict:
    """The `data:` config of the fixture's tree and files, with `extra` keys replaced."""
    base = dict(name="imagenet", root=str(root), loader="ffcv", workers=1)
    return {**base, "ffcv": dict(compress_probability=0.0), **extra}


@pytest.fixture(scope="module")
def data(tree: Path) -> BetonData:
    return load_data(DataSettings.of(ffcv_cfg(tree)))


def full_pass(batches) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = zip(*batches, strict=True)
    return torch.cat(xs), torch.cat(ys)


def test_betons_are_named_by_split_and_settings(tree: Path):
    paths = beton_paths(DataSettings.of(ffcv_cfg(tree)))
    assert paths == {
        "train": tree / "ffcv" / "train_500_0.00_90.beton",
        "test": tree / "ffcv" / "val_500_0.00_90.beton",
    }
    assert all(p.stat().st_size > 0 for p in paths.values())
    assert not list((tree / "ffcv").glob(".*.tmp"))  # atomic write: no temporary file left
    other = beton_paths(
        DataSettings.of(
            dict(name="imagenet", root="x", loader="ffcv", ffcv=dict(dir="/b", jpeg_quality=80))
        )
    )
    assert other["train"] == Path("/b/train_500_0.50_80.beton")


def test_shapes_labels_and_split_sizes(data: BetonData, tree: Path):
    assert isinstance(data, BetonData)
    assert data.in_shape == (3, 224, 224) and data.num_classes == CLASSES
    assert data.size("train") == N_TRAIN and data.size("test") == N_TEST
    threads = torch.get_num_threads()
    batches = data.batches("train", 5, shuffle=False)
    assert len(batches) == 3  # 5 + 5 + 2: the last, partial batch is kept
    x, y = full_pass(batches)
    assert torch.get_num_threads() == threads  # FFCV's thread setting (workers=1) is undone
    assert x.shape == (N_TRAIN, 3, 224, 224) and x.dtype == torch.float32
    assert y.dtype == torch.long and x.device == y.device == torch.device("cpu")
    # sequential order = ImageFolder's order, labels = its class indices
    folder = imagenet.FolderData(tree, workers=0)
    assert y.tolist() == [label for _, label in folder.folders["train"][False].samples]
    with pytest.raises(ValueError, match="split 'val' not available"):
        data.batches("val", 4, shuffle=False)


def test_evaluation_batches_match_the_torchvision_transform(data: BetonData, tree: Path):
    """Centre crop 224/256 + ImageNet mean/std against Resize(256) + CenterCrop(224) + Normalize."""
    x, _ = full_pass(data.batches("test", 4, shuffle=False))
    folder = imagenet.FolderData(tree, workers=0)
    reference = torch.stack([img for img, _ in folder.folders["test"][False]])
    diff = (x - reference).abs()
    print(f"FFCV vs torchvision evaluation transform: mean |diff| {diff.mean():.4f}, ")
    print(f"99th percentile {diff.flatten().quantile(0.99):.4f} (normalised units)")
    assert diff.mean() < 0.05  # OpenCV's resize vs PIL's; the images span about 4.5 units
    assert torch.allclose(x.mean((0, 2, 3)), reference.mean((0, 2, 3)), atol=0.02)
    assert torch.allclose(x.std((0, 2, 3)), reference.std((0, 2, 3)), rtol=0.05)
    assert torch.equal(data.sample("test", 2), x[:2])


def test_shuffled_order_follows_the_seed(data: BetonData):
    plain, _ = full_pass(data.batches("train", 4, shuffle=False))
    keys = plain.sum((1, 2, 3))  # one number per (distinct) image

    def order(batches) -> list[int]:
        x, _ = full_pass(batches)
        return [int((keys - k).abs().argmin()) for k in x.sum((1, 2, 3))]

    first, again = data.batches("train", 4, True, seed=1), data.batches("train", 4, True, seed=1)
    o1, o2 = order(first), order(first)
    assert sorted(o1) == sorted(o2) == list(range(N_TRAIN))  # every image once per pass
    assert o1 != o2  # each pass a new order
    assert [order(again), order(again)] == [o1, o2]  # ... reproducibly from the seed
    assert order(data.batches("train", 4, True, seed=2)) != o1
    # resume (stardomain.resume) restores the order generator and so the next order
    resumed = data.batches("train", 4, True, seed=1)
    order_generator(resumed).set_state(first.generator.get_state())
    assert order(resumed) == order(first)


@pytest.mark.slow
def test_augmentation_only_when_asked(data: BetonData, tree: Path):
    plain, y = full_pass(data.batches("train", 4, shuffle=False))
    aug, y_aug = full_pass(data.batches("train", 4, shuffle=False, augment=True))
    assert aug.shape == plain.shape and torch.equal(y_aug, y) and torch.isfinite(aug).all()
    assert (aug - plain).abs().mean() > 0.1  # random resized crops and flips
    # data.augment: false turns the training augmentation off (the barrier's train split is
    # always read with augment=False)
    no_aug = load_data(DataSettings.of(ffcv_cfg(tree, augment=False)))
    same, _ = full_pass(no_aug.batches("train", 4, shuffle=False, augment=True))
    assert torch.equal(same, plain)


def test_missing_betons_and_mismatched_classes_are_named(tree: Path, tmp_path: Path):
    with pytest.raises(DataMissing, match="data.ffcv.dir: train file"):
        load_data(DataSettings.of(ffcv_cfg(tree, ffcv=dict(dir=str(tmp_path / "none")))))
    write_imagefolder_smooth(tmp_path / "t", classes=2, per_class=(1, 1))
    (tmp_path / "t" / "val" / "n00000001").rename(tmp_path / "t" / "val" / "n00000002")
    with pytest.raises(ValueError, match="classes of .* differ"):
        write_beton(tmp_path / "val.beton", tmp_path / "t", "test")
    assert not (tmp_path / "val.beton").exists()


@pytest.mark.slow
def test_workflow_writes_the_betons_once_and_trains_from_them(tmp_path: Path):
    """Real Snakemake: rule ffcv_beton (one job per split), then regular models read through FFCV."""
    from stardomain.io import load_model

    from conftest import job_counts, snakemake, tiny_config

    write_imagefolder_smooth(tmp_path / "tree", classes=2, per_class=(3, 1))
    config = tiny_config()
    exp = config["experiments"]["tiny"]
    exp["data"] = dict(name="imagenet", root="tree", loader="ffcv", workers=1)
    exp["model"] = dict(name="mlp", width=4, depth=1)  # 3 x 224 x 224 inputs -> 4 -> 2 classes
    exp["train"].update(epochs=1, batch_size=4)
    first = snakemake(tmp_path, config, "results/tiny/regular/0.pt")
    assert job_counts(first.stdout + first.stderr) == {"ffcv_beton": 2, "train_regular": 1}
    for name in ("train_500_0.50_90", "val_500_0.50_90"):
        assert (tmp_path / "tree/ffcv" / f"{name}.beton").stat().st_size > 0
        assert "-> tree/ffcv/" in (tmp_path / "tree/ffcv" / f"{name}.log").read_text()
    model = load_model(tmp_path / "results/tiny/regular/0.pt")
    assert model["arch"]["in_shape"] == [3, 224, 224] and model["arch"]["num_classes"] == 2
    assert model["provenance"]["settings"]["data"]["loader"] == "ffcv"
    second = snakemake(tmp_path, config, "-n", "results/tiny/regular/1.pt")
    assert job_counts(second.stdout) == {"train_regular": 1}  # the betons are written once
