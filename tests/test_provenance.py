"""Provenance: the numerics version is pinned by a golden digest; a user's factory source, not its
folder or the package version, decides what is retrained (stardomain.provenance)."""

from __future__ import annotations

import copy
import hashlib
import shutil
import sys
from pathlib import Path

import pytest
import torch

from stardomain import barrier
from stardomain.data import load_digits
from stardomain.jobs import CurveJob, RegularJob, StarJob
from stardomain.models import MLP
from stardomain.provenance import NUMERICS_VERSION, job_provenance, source_digest, user_modules
from stardomain.settings import EvalSettings, Recipe
from stardomain.train import train_regular

from conftest import snakemake, tiny_config
from helpers import tiny_experiment

# NUMERICS_VERSION -> `tiny_numbers()` measured with torch 2.14.1 on CPU. A change of the library that
# moves these numbers must bump NUMERICS_VERSION and pin the new numbers here: every stored model and
# every curve is then recomputed instead of being served from an older library's numbers.
# The numbers are compared within a tolerance, never bitwise: float kernels differ between CPUs (a
# rerun on one machine is bitwise identical, another CPU's rounding is not), and the tolerance is
# far below what a change of initialisation, recipe or evaluation does to them.
GOLDEN = {
    1: {
        "norms": {
            "head.bias": 0.65948,
            "head.weight": 3.20454,
            "layers.0.bn.bias": 0.23999,
            "layers.0.bn.running_mean": 1.37103,
            "layers.0.bn.running_var": 3.16458,
            "layers.0.bn.weight": 2.81384,
            "layers.0.linear.bias": 0.12432,
            "layers.0.linear.weight": 2.28412,
            "layers.1.bn.bias": 0.60407,
            "layers.1.bn.running_mean": 0.89733,
            "layers.1.bn.running_var": 0.82660,
            "layers.1.bn.weight": 3.60375,
            "layers.1.linear.bias": 0.55459,
            "layers.1.linear.weight": 1.85955,
        },
        "loss": [1.02388, 1.08606, 1.72222, 1.74841, 1.08497, 1.09724],
        "accuracy": [0.71677, 0.68611, 0.49965, 0.44444, 0.65414, 0.67500],
    }
}
RTOL = 1e-3  # relative, for norms and losses
ACC_ATOL = 0.005  # absolute: a few of the 1,437 training images may flip class on another CPU


def tiny_numbers() -> dict:
    """Per-tensor norms of a 2-epoch digits MLP (with BN) and its barrier curve to a second seed's
    model: losses and accuracies at t = 0, 0.5, 1 on train and test."""
    data = load_digits(0.2, 0)
    recipe = Recipe(epochs=2, batch_size=64)
    states = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        model = MLP(64, 10, 8, 2, batchnorm=True)
        train_regular(model, data, recipe, seed)
        states.append({k: v.detach().clone() for k, v in model.state_dict().items()})
    evaluation = EvalSettings((0.0, 0.5, 1.0), 512, 128, None, 0)
    rows = barrier.curve(MLP(64, 10, 8, 2, True), *states, data, evaluation)
    norms = {k: v.norm().item() for k, v in sorted(states[0].items()) if v.is_floating_point()}
    return dict(
        norms=norms,
        loss=[row["loss"] for row in rows],
        accuracy=[row["accuracy"] for row in rows],
    )


def test_numerics_version_is_bumped_when_numbers_change():
    numbers, golden = tiny_numbers(), GOLDEN[NUMERICS_VERSION]
    message = (
        "the library's numbers changed: bump stardomain.provenance.NUMERICS_VERSION and pin the "
        "new numbers in GOLDEN"
    )
    assert numbers["norms"] == pytest.approx(golden["norms"], rel=RTOL), message
    assert numbers["loss"] == pytest.approx(golden["loss"], rel=RTOL), message
    assert numbers["accuracy"] == pytest.approx(golden["accuracy"], abs=ACC_ATOL), message


def test_the_golden_tolerance_catches_a_changed_recipe():
    """A one-epoch-longer recipe is the kind of change the golden numbers must see."""
    data = load_digits(0.2, 0)
    torch.manual_seed(0)
    model = MLP(64, 10, 8, 2, batchnorm=True)
    train_regular(model, data, Recipe(epochs=3, batch_size=64), 0)
    norm = model.state_dict()["head.weight"].norm().item()
    assert norm != pytest.approx(GOLDEN[NUMERICS_VERSION]["norms"]["head.weight"], rel=RTOL)


FACTORY = """from torch import nn


def net(num_classes, in_shape, width=8):
    return nn.Sequential(
        nn.Flatten(), nn.Linear(in_shape[0], width), nn.ReLU(), nn.Linear(width, num_classes)
    )
"""


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
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


NETS2 = """from torch import nn

from mylab.blocks import ACT


def net(num_classes, in_shape, width=8):
    return nn.Sequential(
        nn.Flatten(), nn.Linear(in_shape[0], width), ACT(), nn.Linear(width, num_classes)
    )
"""


def mylab(root: Path) -> Path:
    """The package `mylab`: a factory `mylab/nets2.py` importing `ACT` from `mylab/blocks.py`."""
    package = root / "mylab"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "nets2.py").write_text(NETS2)
    (package / "blocks.py").write_text("from torch import nn\n\nACT = nn.ReLU\n")
    (package / "unused.py").write_text("WIDTH = 8\n")  # imported by nothing
    return package


@pytest.fixture
def clean_mylab():
    yield
    for name in [m for m in sys.modules if m == "mylab" or m.startswith("mylab.")]:
        del sys.modules[name]


def test_a_helper_the_factory_imports_is_part_of_its_digest(tmp_path, monkeypatch, clean_mylab):
    package = mylab(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert set(user_modules("mylab.nets2:net")) == {"mylab", "mylab.nets2", "mylab.blocks"}
    before = source_digest("mylab.nets2:net")
    (package / "unused.py").write_text("WIDTH = 16\n")
    assert source_digest("mylab.nets2:net") == before  # code the factory never imports
    (package / "blocks.py").write_text("from torch import nn\n\nACT = nn.Tanh\n")
    assert source_digest("mylab.nets2:net") != before
    # a factory importing no other user code: the digest of its file, as before the rule
    (package / "solo.py").write_text(FACTORY)
    assert source_digest("mylab.solo:net") == sha256(package / "solo.py")


@pytest.mark.slow
def test_an_edited_helper_of_the_factory_is_retrained_not_restored(tmp_path: Path):
    """Real Snakemake: editing `mylab/blocks.py`, which the factory `mylab/nets2.py` imports,
    reruns and retrains the model; changing it back restores it from the store."""
    package = mylab(tmp_path / "userpkg")
    blocks = (package / "blocks.py").read_text()
    config = tiny_config()
    exp = config["experiments"]["tiny"]
    exp["model"] = {"name": "mylab.nets2:net"}
    exp["train"]["epochs"] = 2
    work, target, log = tmp_path / "work", "results/tiny/regular/0.pt", "logs/tiny/regular/0.log"

    def run(*args):
        return snakemake(work, config, target, *args, pythonpath=[package.parent])

    run()
    relu = sha256(work / target)
    (package / "blocks.py").write_text(blocks.replace("nn.ReLU", "nn.Tanh"))
    assert "train_regular" in run("-n").stdout  # the imported helper is a rerun trigger
    shutil.rmtree(work / "results")
    run()
    assert "restored from store" not in (work / log).read_text()
    assert sha256(work / target) != relu
    (package / "blocks.py").write_text(blocks)  # changed back: the ReLU model comes back
    shutil.rmtree(work / "results")
    run()
    assert "restored from store" in (work / log).read_text()
    assert sha256(work / target) == relu


def test_provenance_leaves_out_locations_and_speed_but_keeps_the_factory_source(tmp_path: Path):
    exp = tiny_experiment()
    exp["data"] = dict(name="cifar10", root="/a", download=True, workers=4, split_seed=42)
    exp["eval"]["batch_size"] = 512
    exp["stars"]["main"]["pairs"] = "heldout_permuted"
    moved = copy.deepcopy(exp)
    moved["data"] = dict(exp["data"], root="/b", download=False, workers=1)
    moved["eval"]["batch_size"] = 64
    moved["eval"]["pair_anchors"], moved["eval"]["naive"] = 2, False  # which pairs, not numbers
    moved["stars"]["main"]["pairs"] = "all"
    for job in (lambda e: RegularJob.of("tiny", e, 0), lambda e: StarJob.of("tiny", e, "main")):
        assert job_provenance(job(exp), "r") == job_provenance(job(moved), "r")
        assert job(exp) != job(moved)  # the jobs still know where the data is
    for alignment in (True, False):
        assert CurveJob.of(exp, alignment).params() == CurveJob.of(moved, alignment).params()
    provenance = job_provenance(RegularJob.of("tiny", exp, 0), "regular")
    data = dict(name="cifar10", split_seed=42, val_fraction=0.1, augment=True)  # defaults resolved
    assert provenance["settings"]["data"] == data
    assert provenance["code"] == {} and provenance["numerics"] == NUMERICS_VERSION
