"""Fashion-MNIST: the loader on fake files in both layouts, the missing-files message, and a real
Snakemake run of a scaled-down BN-CNN experiment on real Fashion-MNIST images (every stage)."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stardomain.data import load_data, missing_data, vision
from stardomain.data.vision import FASHION_MNIST_MEAN, FASHION_MNIST_STD
from stardomain.settings import DataSettings

from conftest import tiny_config
from fake_data import _idx, write_mnist

DEBIAN = vision.SYSTEM_ROOTS["fashion_mnist"]


@pytest.mark.parametrize("folder", ["FashionMNIST/raw", ""], ids=["torchvision", "flat"])
@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gz"])
def test_fashion_mnist_reads_both_layouts(tmp_path, folder, gz):
    raw = write_mnist(tmp_path, n_train=100, n_test=30, gz=gz, folder=folder)
    data = load_data(DataSettings.of(dict(name="fashion_mnist", root=str(tmp_path))))
    assert data.in_shape == (1, 28, 28) and data.num_classes == 10
    assert (data.size("train"), data.size("val"), data.size("test")) == (90, 10, 30)
    pixel = raw["t10k-images-idx3-ubyte"][3, 5, 9] / 255
    expected = (pixel - FASHION_MNIST_MEAN[0]) / FASHION_MNIST_STD[0]
    assert float(data.test.x[3, 0, 5, 9]) == pytest.approx(expected, abs=1e-5)
    assert data.test.y.tolist() == raw["t10k-labels-idx1-ubyte"].tolist()
    assert data.augment is None


def test_fashion_mnist_keeps_the_authors_90_10_split(tmp_path):
    raw = write_mnist(tmp_path, n_train=200, n_test=10, folder="")
    data = load_data(DataSettings.of(dict(name="fashion_mnist", root=str(tmp_path))))
    train_idx, val_idx = vision.val_split(200, 0.1, 42)
    labels = raw["train-labels-idx1-ubyte"]
    assert data.val.y.tolist() == labels[val_idx.numpy()].tolist()
    assert data.train.y.tolist() == labels[train_idx.numpy()].tolist()


def test_missing_fashion_mnist_names_the_package_and_download(tmp_path):
    cfg = dict(name="fashion_mnist", root=str(tmp_path / "nowhere"))
    problem = missing_data(DataSettings.of(cfg))
    for part in ("data.root:", "nowhere", "dataset-fashion-mnist", "data.download: true"):
        assert part in problem
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        load_data(DataSettings.of(cfg))
    assert missing_data(DataSettings.of(dict(cfg, download=True))) is None


def test_default_root_finds_the_system_package(tmp_path, monkeypatch):
    """Without data.root: data/fashion_mnist if it holds the files, else the package's folder."""
    system = tmp_path / "usr-share"
    write_mnist(system, n_train=20, n_test=10, gz=True, folder="")
    monkeypatch.setitem(vision.SYSTEM_ROOTS, "fashion_mnist", system)
    monkeypatch.delenv(vision.DATA_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    assert vision.root_of("fashion_mnist", DataSettings.of({})) == system
    assert load_data(DataSettings.of(dict(name="fashion_mnist"))).size("test") == 10
    write_mnist(tmp_path / "data/fashion_mnist", n_train=40, n_test=20, folder="FashionMNIST/raw")
    assert vision.root_of("fashion_mnist", DataSettings.of({})) == Path("data/fashion_mnist")
    assert load_data(DataSettings.of(dict(name="fashion_mnist"))).size("test") == 20


# -- a real run on real images ---------------------------------------------------------------------


def real_files_or_skip() -> Path:
    """The Debian package's folder; in CI (.ci/run installs the package) its absence fails."""
    if not all((DEBIAN / f"{name}.gz").exists() for name in vision.IDX_TRAIN + vision.IDX_TEST):
        if os.environ.get("CI"):
            pytest.fail(f"{DEBIAN}: apt-get install dataset-fashion-mnist (.ci/run does)")
        pytest.skip(f"{DEBIAN} absent: apt-get install dataset-fashion-mnist")
    return DEBIAN


def write_real_subset(source: Path, root: Path, n_train: int, n_test: int) -> None:
    """The first images of the real files, as a flat folder of gzipped idx files under `root`."""
    root.mkdir(parents=True, exist_ok=True)
    for names, n in ((vision.IDX_TRAIN, n_train), (vision.IDX_TEST, n_test)):
        for name in names:
            array = vision.read_idx(source / f"{name}.gz")[:n]
            (root / f"{name}.gz").write_bytes(gzip.compress(_idx(array), compresslevel=1))


@pytest.mark.slow
def test_scaled_down_real_image_experiment_runs_every_stage(tmp_path, run_snakemake):
    """3,000 real training images, BN CNN: regular models, Starlight with a replicate, permuted and
    naive curves with evaluation subsets and bounded BN passes, Table 1 with its interval, Fig. 2."""
    root = tmp_path / "fmnist"
    write_real_subset(real_files_or_skip(), root, n_train=3000, n_test=1000)
    config = tiny_config()
    config["all"] = ["fmnist"]
    config["experiments"] = {
        "fmnist": {
            "data": {"name": "fashion_mnist", "root": str(root)},
            "model": {"name": "cnn", "width": 4},
            "train": {"epochs": 2, "batch_size": 64, "lr": 0.05},
            "seeds": [0, 1, 2, 3, 4],
            "n_anchors": 3,
            "n_heldout": 2,
            "stars": {"main": {"replicates": 2}},
            "eval": {"grid": [0.0, 0.5, 1.0], "pair_anchors": 1, "train_subset": 500,
                     "test_subset": 400, "bn_batches": 3},
        }
    }  # fmt: skip
    run_snakemake(tmp_path / "work", config)
    work = tmp_path / "work"
    barriers = pd.read_csv(work / "results/fmnist/barriers.csv")
    # 1 anchor x 2 held-out (naive + permuted), 2 stars x (2 held-out x 2 + 1 anchor)
    assert len(barriers) == 4 + 2 * 5
    assert set(barriers["a"]) == {"regular-0", "star-main", "star-main_r2"}
    permuted = barriers[barriers["alignment"] == "permuted"]
    assert (permuted["max_abs_output_change"] < 1e-4).all()  # BN statistics permuted exactly
    assert (barriers["accuracy_test_b"] > 0.5).all()  # real images: 10 classes, well above chance
    curves = pd.read_csv(work / "results/fmnist/curves.csv")
    assert set(curves["t"]) == {0.0, 0.5, 1.0}
    table = pd.read_csv(work / "figures/table1.csv").set_index("star")
    main = table.loc["star-main"]
    assert main["n_star_replicates"] == 2 and main["n_star_heldout_pairs"] == 4
    assert main["ratio_barrier_loss_train_ci_low"] <= main["ratio_barrier_loss_train"]
    assert main["ratio_barrier_loss_train"] <= main["ratio_barrier_loss_train_ci_high"]
    assert "star-main_r2" not in table.index  # pooled into star-main's row
    # the curves used evaluation shortcuts, and the row rests on few models: both are said
    assert main["eval_shortcuts"] == "train_subset=500, test_subset=400, bn_batches=3"
    assert main["interval_note"] == (
        "too few models: 2 held-out models, 2 star seeds; one anchor: conditional on it"
    )
    assert "| fmnist ˢ | star-main |" in (work / "figures/table1.md").read_text()
    design = pd.read_csv(work / "results/fmnist/design.csv").set_index("star")
    assert design.loc["star-main_r2", "replicate_of"] == "main"
    assert design.loc["star-main_r2", "star_seed"] == design.loc["star-main", "star_seed"] + 1
    assert (work / "figures/fig2.png").stat().st_size > 0
    log = (work / "logs/fmnist/star/main.log").read_text()
    assert "3 anchors" in log


@pytest.mark.slow
def test_missing_real_files_stop_the_run_before_any_job(tmp_path, run_snakemake):
    config = tiny_config()
    config["experiments"]["tiny"]["data"] = {"name": "fashion_mnist", "root": str(tmp_path / "no")}
    proc = run_snakemake(tmp_path / "work", config, check=False)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "experiments.tiny.data.root" in out and "dataset-fashion-mnist" in out
    written = [p for p in (tmp_path / "work").rglob("*") if ".snakemake" not in p.parts]
    assert sorted(p.name for p in written if p.is_file()) == ["config.yaml"]


@pytest.mark.slow
def test_fashion_mnist_statistics_are_the_real_training_images():
    """The normalisation constants are the mean and std of the 60,000 real training images."""
    x = vision.read_idx(real_files_or_skip() / "train-images-idx3-ubyte.gz").astype(np.float64)
    assert x.shape == (60000, 28, 28)
    assert (x / 255).mean() == pytest.approx(FASHION_MNIST_MEAN[0], abs=1e-4)
    assert (x / 255).std() == pytest.approx(FASHION_MNIST_STD[0], abs=1e-4)


@pytest.mark.slow
def test_group_file_builds_the_real_image_experiments_and_their_figures(tmp_path, run_snakemake):
    """workflow/configs/fashion_mnist.yaml over config.yaml (merged as Snakemake merges them)."""
    import yaml
    from snakemake.utils import update_config

    from conftest import REPO, job_counts

    config = yaml.safe_load((REPO / "config.yaml").read_text())
    update_config(
        config, yaml.safe_load((REPO / "workflow/configs/fashion_mnist.yaml").read_text())
    )
    counts = job_counts(run_snakemake(tmp_path, config, "-n").stdout)
    # fmnist_cnn: 14 models, 3 replicates of main + n1 + n5, 12 + 3 x 7 + 2 x 4 permuted pairs;
    # each MLP width: 13 models, 1 star, 9 + 3 permuted pairs
    assert counts["train_regular"] == 14 + 3 * 13
    assert counts["train_star"] == 5 + 3
    assert counts["align_interpolate"] == 41 + 3 * 12
    assert "interpolate" not in counts  # naive curves off
    assert counts["fig_n_anchors"] == counts["fig_width_depth"] == counts["table1"] == 1
    assert "ensemble" not in counts and "table_t_sampling" not in counts
