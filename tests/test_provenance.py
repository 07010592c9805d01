"""Provenance: the numerics version is pinned by a golden digest; a user's factory source, not its
folder or the package version, decides what is retrained (stardomain.provenance)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import torch

from stardomain import barrier
from stardomain.data import load_digits
from stardomain.models import MLP
from stardomain.provenance import NUMERICS_VERSION, job_provenance, tracked
from stardomain.train import DEFAULT_RECIPE, train_regular

from conftest import snakemake, tiny_config

# NUMERICS_VERSION -> sha256 of `tiny_numbers()` (torch 2.14.1, CPU). A change of the library that
# moves this digest must bump NUMERICS_VERSION and add its digest here: every stored model and
# every curve is then recomputed instead of being served from an older library's numbers.
GOLDEN = {1: "ffb84d5ae53d84dcecb8c70248451b186ba65a442d8a44589d66c1506213916a"}


def tiny_numbers() -> str:
    """sha256 of a 2-epoch digits MLP (with BN) and its barrier curve to a second seed's model."""
    data = load_digits(0.2, 0)
    recipe = dict(DEFAULT_RECIPE, epochs=2, batch_size=64)
    states = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        model = MLP(64, 10, 8, 2, batchnorm=True)
        train_regular(model, data, recipe, seed)
        states.append({k: v.detach().clone() for k, v in model.state_dict().items()})
    rows = barrier.curve(MLP(64, 10, 8, 2, True), *states, [0.0, 0.5, 1.0], data, 512, 128, None)
    digest = hashlib.sha256()
    for name, tensor in sorted(states[0].items()):
        digest.update(name.encode() + tensor.numpy().tobytes())
    digest.update(json.dumps(rows, sort_keys=True).encode())
    return digest.hexdigest()


def test_numerics_version_is_bumped_when_numbers_change():
    assert tiny_numbers() == GOLDEN[NUMERICS_VERSION], (
        "the library's numbers changed: bump stardomain.provenance.NUMERICS_VERSION and pin the "
        "new digest in GOLDEN"
    )


FACTORY = """from torch import nn


def net(num_classes, in_shape, width=8):
    return nn.Sequential(
        nn.Flatten(), nn.Linear(in_shape[0], width), nn.ReLU(), nn.Linear(width, num_classes)
    )
"""


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_an_edited_model_factory_is_retrained_not_restored(tmp_path: Path):
    package = tmp_path / "userpkg"
    package.mkdir()
    factory = package / "mylab_factory.py"
    factory.write_text(FACTORY)
    config = tiny_config()
    exp = config["experiments"]["tiny"]
    exp["model"] = {"name": "mylab_factory:net"}
    exp["train"]["epochs"] = 2
    work, target, log = tmp_path / "work", "results/tiny/regular/0.pt", "logs/tiny/regular/0.log"

    def run(*args):
        return snakemake(work, config, target, *args, pythonpath=[package])

    run()
    relu = sha256(work / target)
    assert "restored from store" not in (work / log).read_text()

    factory.write_text(FACTORY.replace("nn.ReLU()", "nn.Tanh()"))
    assert "train_regular" in run("-n").stdout  # the factory's source is a rerun trigger
    shutil.rmtree(work / "results")
    run()
    assert "restored from store" not in (work / log).read_text()
    assert sha256(work / target) != relu

    factory.write_text(FACTORY)  # changed back: the ReLU model comes back from the store
    shutil.rmtree(work / "results")
    run()
    assert "restored from store" in (work / log).read_text()
    assert sha256(work / target) == relu


def test_provenance_leaves_out_locations_and_speed_but_keeps_the_factory_source(tmp_path: Path):
    settings = dict(
        data=dict(name="cifar10", root="/a", download=True, workers=4, split_seed=42),
        model=dict(name="mlp", width=8),
        eval=dict(batch_size=512, seed=0),
        star=dict(pairs="heldout_permuted", seed=10000),
    )
    moved = dict(settings, data=dict(settings["data"], root="/b", download=False, workers=1))
    moved["eval"] = dict(settings["eval"], batch_size=64)
    assert job_provenance(settings) == job_provenance(moved)
    assert tracked(settings)["data"] == dict(name="cifar10", split_seed=42)
    assert tracked(settings)["star"] == dict(seed=10000)
    assert job_provenance(settings)["code"] == {}
    assert job_provenance(settings)["numerics"] == NUMERICS_VERSION
