"""Typed settings (stardomain.settings, stardomain.jobs): config -> settings -> params -> settings is
exact for every job of every shipped experiment, and settings that mean the same give equal params
(written-out defaults, key order, numbers written as integers, defaults of a data set or an
architecture)."""

from __future__ import annotations

import copy
import json
from dataclasses import FrozenInstanceError

import pytest
import yaml
from snakemake.utils import validate

from stardomain import design
from stardomain.jobs import CurveJob, EnsembleJob, RegularJob, StarJob
from stardomain.settings import DataSettings, ModelSettings, Recipe, StarSettings

from conftest import REPO

SCHEMA = str(REPO / "workflow/schemas/config.schema.yaml")


def validated(path) -> dict:
    config = yaml.safe_load(path.read_text())
    validate(config, SCHEMA)
    design.expand_replicates(config)
    return config


CONFIGS = {
    "config.yaml": validated(REPO / "config.yaml"),
    "examples/own_dataset.yaml": validated(REPO / "examples/own_dataset.yaml"),
}


def jobs_of(name: str, exp: dict) -> list:
    """One job of every kind of experiment `exp`: its first regular model, every star, both curve
    kinds, the ensemble comparison."""
    return [
        RegularJob.of(name, exp, exp["seeds"][0]),
        *(StarJob.of(name, exp, s) for s in exp["stars"]),
        CurveJob.of(exp, permuted=True),
        CurveJob.of(exp, permuted=False),
        EnsembleJob.of(name, exp),
    ]


CASES = [(file, name) for file, config in CONFIGS.items() for name in config["experiments"]]


@pytest.mark.parametrize("file,name", CASES, ids=[f"{f}:{n}" for f, n in CASES])
def test_settings_to_params_to_settings_is_exact(file, name):
    exp = CONFIGS[file]["experiments"][name]
    jobs = jobs_of(name, exp)
    for job in jobs:
        params = json.loads(json.dumps(job.params()))  # what survives Snakemake's params as JSON
        assert params == job.params()
        labels = {k: getattr(job, k) for k in ("experiment", "name") if hasattr(job, k)}
        again = type(job).from_params(params, exp, **labels)
        assert again == job, type(job).__name__
        assert again.params() == params
    assert len(jobs) == 4 + len(exp["stars"])


def test_params_leave_out_where_the_data_is_and_the_round_trip_puts_it_back():
    exp = copy.deepcopy(CONFIGS["config.yaml"]["experiments"]["fmnist_cnn"])
    exp["data"].update(root="/site/fmnist", workers=3)
    exp["eval"]["batch_size"] = 256
    job = CurveJob.of(exp, permuted=True)
    assert "root" not in job.params()["data"] and "batch_size" not in job.params()["evaluation"]
    again = CurveJob.from_params(job.params(), exp)
    assert (again.data.root, again.data.workers, again.evaluation.batch_size) == (
        "/site/fmnist",
        3,
        256,
    )


def test_written_defaults_key_order_and_integer_numbers_give_equal_params():
    base = dict(optimizer="sgd", epochs=3, lr=0.05)
    written = dict(reversed(list(dict(base, momentum=0.9, nesterov=True, amp="off").items())))
    assert Recipe.of(base).params() == Recipe.of(written).params()
    assert list(Recipe.of(written).params()) == sorted(Recipe.of(written).params())
    assert Recipe.of(dict(base, lr=1)).params()["lr"] == 1.0 == Recipe.of(dict(base, lr=1.0)).lr
    assert Recipe.of(dict(base, momentum=0.8)).params() != Recipe.of(base).params()


def test_data_set_and_architecture_defaults_are_resolved_and_unread_keys_dropped():
    assert DataSettings.of(dict(name="fashion_mnist")) == DataSettings.of(
        dict(name="fashion_mnist", split_seed=42, val_fraction=0.1, augment=True)  # not read
    )
    assert DataSettings.of(dict(name="digits")).params() == dict(
        name="digits", split_seed=0, test_fraction=0.2
    )
    mlp = ModelSettings.of(dict(name="mlp"))
    assert mlp == ModelSettings.of(dict(depth=2, name="mlp", width=8, heads=3))  # heads: not read
    assert mlp.params() == dict(batchnorm=False, depth=2, name="mlp", width=8)
    vgg = ModelSettings.of(dict(name="vgg", variant="authors"))
    assert (vgg.depth, vgg.dropout) == (11, 0.5)  # the authors' classifier dropout
    assert ModelSettings.of(dict(name="vgg")).dropout == 0.0
    own = ModelSettings.of(dict(name="mylab.nets:net", width=4, kwargs=dict(b=1, a=2)))
    assert own.params() == dict(name="mylab.nets:net", kwargs=dict(a=2, b=1))


def test_settings_are_frozen():
    star = StarSettings(anchors=(0, 1), epochs=2)
    with pytest.raises(FrozenInstanceError):
        star.epochs = 3


@pytest.mark.parametrize("file,name", CASES, ids=[f"{f}:{n}" for f, n in CASES])
def test_made_with_gives_the_params_of_the_job_that_made_each_model(file, name):
    """What a loading job expects a file to record (jobs.made_with, from the model id) is what the
    training job that wrote it recorded (its params), for every model a pair reads."""
    from stardomain.jobs import made_with

    exp = CONFIGS[file]["experiments"][name]
    made = {}
    for seed in exp["seeds"]:
        made[design.regular_id(seed)] = RegularJob.of(name, exp, seed).params()
    for group, spec in design.heldout_groups(exp).items():
        for seed in spec["seeds"]:
            made[design.regular_id(seed, group)] = RegularJob.of(name, exp, seed, group).params()
    for star in exp["stars"]:
        job = StarJob.of(name, exp, star)
        made[design.star_id(star)] = job.params()
        for seed in job.star.anchors:  # what Starlight expects of its anchor files
            assert job.anchor(seed).params() == made[design.regular_id(seed)]
    for pair in design.pairs(exp):
        for model in (pair.a, pair.b):
            assert made_with(name, exp, model) == made[model], model


def test_record_difference_names_the_first_key_that_differs():
    from stardomain.io import record_difference

    file = StarJob.of("digits", CONFIGS["config.yaml"]["experiments"]["digits"], "beta").params()
    config = StarJob.of("digits", CONFIGS["config.yaml"]["experiments"]["digits"], "main").params()
    assert record_difference(config, copy.deepcopy(config)) is None
    assert (
        record_difference(file, config) == "star.t_sampling: 'beta' in the file, 'uniform' expected"
    )
    extra = copy.deepcopy(file)
    extra["recipe"]["new_key"] = 1
    assert record_difference(extra, file) == "recipe.new_key is set only in the file"
    assert record_difference(file, extra) == "recipe.new_key is set only in the job's config"
    assert record_difference(None, config) == f"settings: None in the file, {config!r} expected"
