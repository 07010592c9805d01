"""A researcher's own dataset: the documented streaming interface and the adapter for any
`torch.utils.data.Dataset` train, augment and resume (docs/experiments.md, "Your own model or
dataset"); the example in examples/ runs through real Snakemake."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from stardomain import io
from stardomain.data import Augment, load_digits
from stardomain.data.torch_dataset import TorchData
from stardomain.jobs import RegularJob
from stardomain.settings import DataSettings, ModelSettings, Recipe
from stardomain.stages.train import run_train_regular

from conftest import REPO, snakemake
from helpers import Interrupt, stop_after


class StreamingDigits:
    """A streaming dataset as docs/experiments.md describes it: the members of FolderData, its
    batches a plain list (drawn from `seed`), no generator the library knows of."""

    def __init__(self):
        self.data = load_digits(0.2, 0)
        self.in_shape, self.num_classes = self.data.in_shape, self.data.num_classes

    def size(self, split):
        return self.data.size(split)

    def batches(self, split, batch_size, shuffle, seed=0, augment=False):
        return list(self.data.batches(split, batch_size, shuffle, seed))

    def sample(self, split, n):
        return self.data.sample(split, n)

    def to(self, device):
        self.data.to(device)
        return self


def streaming_digits():
    return StreamingDigits()


def tensor_digits(shift: bool = True):
    """digits as two TensorDatasets through the adapter, with a batch augmentation."""
    data = load_digits(0.2, 0)
    train = torch.utils.data.TensorDataset(data.train.x.view(-1, 1, 8, 8), data.train.y)
    test = torch.utils.data.TensorDataset(data.test.x.view(-1, 1, 8, 8), data.test.y)
    return TorchData(train, test, 10, augment=Augment(padding=1) if shift else None)


def settings(data_name: str) -> RegularJob:
    return RegularJob(
        experiment="own",
        seed=0,
        data=DataSettings.of(dict(name=data_name)),
        model=ModelSettings.of(dict(name="mlp", width=8, depth=2)),
        recipe=Recipe(epochs=3, batch_size=32),
    )


@pytest.mark.parametrize(
    "factory", ["test_own_data:streaming_digits", "test_own_data:tensor_digits"]
)
def test_own_dataset_trains_and_resumes_bitwise(tmp_path: Path, factory: str):
    run_train_regular(str(tmp_path / "unbroken.pt"), settings(factory), "cpu")
    out = tmp_path / "resumed.pt"
    with pytest.raises(Interrupt):  # a kill after epoch 1 of 3: the side file holds epoch 1
        run_train_regular(str(out), settings(factory), "cpu", progress=stop_after(1, []))
    seen: list[int] = []
    run_train_regular(str(out), settings(factory), "cpu", progress=stop_after(99, seen))
    assert seen == [1, 2]
    resumed, unbroken = io.load_model(out), io.load_model(tmp_path / "unbroken.pt")
    for k, v in unbroken["state"].items():
        assert torch.equal(resumed["state"][k], v), k
    assert unbroken["metrics"][-1]["test_accuracy"] > 0.3  # it learned (chance: 0.1)


def test_adapter_augments_training_batches_only():
    data = tensor_digits().to("cpu")
    plain = next(iter(data.batches("train", 256, shuffle=False)))[0]
    augmented = next(iter(data.batches("train", 256, shuffle=False, augment=True)))[0]
    assert plain.shape == augmented.shape == (256, 1, 8, 8)
    assert torch.equal(plain, data.split("train")[:256][0])
    assert not torch.equal(plain, augmented)
    batches = data.batches("train", 64, True, seed=3)
    epochs = [torch.cat([y for _, y in batches]) for _ in range(2)]  # two epochs, two orders
    again = torch.cat([y for _, y in data.batches("train", 64, True, seed=3)])
    assert torch.equal(epochs[0], again) and not torch.equal(epochs[0], epochs[1])


@pytest.mark.slow
def test_the_documented_example_runs_through_snakemake(tmp_path: Path):
    config = yaml.safe_load((REPO / "examples/own_dataset.yaml").read_text())
    snakemake(tmp_path, config, pythonpath=[REPO / "examples"])
    barriers = pd.read_csv(tmp_path / "results/own_dataset/barriers.csv")
    assert len(barriers) == 9  # 1 anchor x 2 held-out (naive, permuted), star x 2 x 2, star-anchor
    permuted = barriers[barriers["alignment"] == "permuted"]
    assert (permuted["max_abs_output_change"] < 1e-4).all()
    star = io.load_model(tmp_path / "results/own_dataset/star/main.pt")
    assert star["metrics"]["history"][-1]["test_accuracy"] > 0.9
