"""The paper's experiments in config.yaml: hyperparameters, DAG sizes, and one real scaled-down run."""

from __future__ import annotations

import copy
import resource
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from stardomain import design, io

from conftest import REPO, assert_cases_cover, job_counts, snakemake
from fake_data import write_cifar, write_imagefolder

CONFIG = yaml.safe_load((REPO / "config.yaml").read_text())
EXPERIMENTS = CONFIG["experiments"]
# digits* = the CPU default, fmnist* = real images on a CPU (tests/test_fashion_mnist.py)
PAPER = [name for name in EXPERIMENTS if not name.startswith(("digits", "fmnist"))]

# The paper's experiments (docs/experiments.md): experiment -> (data, model settings, N anchors, held-out, recipe subset)
RESNET_SGD = dict(optimizer="sgd", lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4,
                  batch_size=128, epochs=200, schedule="cosine")  # fmt: skip
DENSENET_SGD = dict(optimizer="sgd", lr=0.1, weight_decay=1e-4, batch_size=64, epochs=300,
                    schedule="step", milestones=[150, 225], gamma=0.1)  # fmt: skip
# VGG: the authors' config (cosine, 300 epochs); the paper's step milestones stay one key away
VGG_SGD = dict(optimizer="sgd", lr=0.05, weight_decay=5e-4, batch_size=128, epochs=300,
               schedule="cosine", milestones=[100, 150], gamma=0.1)  # fmt: skip
WRN_SGD = dict(optimizer="sgd", lr=0.1, weight_decay=5e-4, epochs=200, schedule="step",
               milestones=[60, 120, 160], gamma=0.2)  # fmt: skip
IMAGENET_SGD = dict(optimizer="sgd", lr=0.1, weight_decay=1e-4, batch_size=256, epochs=100,
                    schedule="step", milestones=[30, 60, 90], gamma=0.1)  # fmt: skip
# the authors' architectures (docs/fidelity.md)
DENSENET = dict(name="densenet40_12", variant="authors", dropout=0.2)
VGG = dict(name="vgg", batchnorm=False, variant="authors", dropout=0.5)
TABLE = {
    "cifar10_resnet18": ("cifar10", dict(name="resnet18"), 50, 5, RESNET_SGD),
    "cifar100_resnet18": ("cifar100", dict(name="resnet18"), 50, 5, RESNET_SGD),
    "cifar10_densenet40_12": ("cifar10", DENSENET, 50, 5, DENSENET_SGD),
    "cifar100_densenet40_12": ("cifar100", DENSENET, 50, 5, DENSENET_SGD),
    "cifar10_vgg11": ("cifar10", dict(VGG, depth=11), 5, 3, VGG_SGD),
    "cifar10_vgg19": ("cifar10", dict(VGG, depth=19), 5, 3, VGG_SGD),
    "imagenet_resnet18": ("imagenet", dict(name="resnet18_imagenet"), 30, 3, IMAGENET_SGD),
    **{
        f"cifar10_wrn{d}_{k}": (
            "cifar10",
            dict(name="wrn", depth=d, width_factor=k, variant="authors"),
            10,
            5,
            WRN_SGD,
        )
        for d, k in [(22, 1), (22, 2), (22, 4), (22, 8), (28, 1), (34, 1), (40, 1)]
    },
    "cifar10_resnet18_adam": ("cifar10", dict(name="resnet18"), 10, 5, dict(optimizer="adam")),
    **{
        f"mnist_mlp_w{w}": ("mnist", dict(name="mlp", width=w, depth=1), 17, 3, {})
        for w in [4, 8, 16, 32, 64, 128, 256]
    },
    "mnist_vit": ("mnist", dict(name="vit"), 10, 5, {}),
    # the authors' held-out sets trained otherwise (docs/fidelity.md)
    "cifar10_resnet18_many_heldouts": ("cifar10", dict(name="resnet18"), 50, 5, RESNET_SGD),
    "cifar10_resnet18_adam_sgd_mixed": ("cifar10", dict(name="resnet18"), 50, 5, RESNET_SGD),
    "cifar10_resnet18_warmup_mixed": (
        "cifar10",
        dict(name="resnet18"),
        10,
        3,
        dict(RESNET_SGD, warmup_epochs=5),
    ),
}
# experiment -> its held-out groups: group -> (models, recipe keys, anchors paired with each)
MIXED = {
    "cifar10_resnet18_many_heldouts": {"more": (15, {}, 15)},
    "cifar10_resnet18_adam_sgd_mixed": {
        "adam": (3, dict(optimizer="adam", lr=1e-3, weight_decay=0.0), 3)
    },
    "cifar10_resnet18_warmup_mixed": {"no_warmup": (3, dict(warmup_epochs=0), 10)},
}


def test_every_paper_experiment_is_in_the_table_and_none_is_in_all():
    assert_cases_cover(PAPER, TABLE, "config.yaml's experiments (but digits*)", "TABLE")
    assert CONFIG["all"] == ["digits"]


@pytest.mark.parametrize("name", sorted(TABLE))
def test_experiment_has_the_authors_settings(name):
    data, model, n_anchors, n_heldout, recipe = TABLE[name]
    exp = EXPERIMENTS[name]
    assert exp["data"]["name"] == data and "root" not in exp["data"]  # data_root decides
    assert {k: exp["model"].get(k) for k in model} == model
    assert exp["n_anchors"] == n_anchors and exp["n_heldout"] == n_heldout
    assert len(exp["seeds"]) == n_anchors + n_heldout
    assert {k: exp["train"].get(k) for k in recipe} == recipe


def test_resnet18_stars_cover_the_n_ablation_and_t_sampling():
    for name in ("cifar10_resnet18", "cifar100_resnet18"):
        stars = EXPERIMENTS[name]["stars"]
        ns = sorted(s.get("n_anchors") or 50 for s in stars.values())
        assert {1, 2, 5, 10, 20, 30, 40, 50} <= set(ns), name
    stars = EXPERIMENTS["cifar10_resnet18"]["stars"]
    assert stars["main"]["t_sampling"] == "uniform"
    assert stars["beta"]["t_sampling"] == "beta" and stars["beta"]["beta"] == [2.0, 2.0]
    assert stars["constant"] == dict(t_sampling="constant", t_constant=0.5)


def expected_counts(config: dict, names: list[str]) -> dict[str, int]:
    """Jobs per rule from the design (stardomain.design) of the named, schema-filled experiments."""
    counts = dict(train_regular=0, train_star=0, align_interpolate=0, interpolate=0)
    for name in names:
        exp = config["experiments"][name]
        pairs = design.pairs(exp)
        groups = design.heldout_groups(exp).values()
        counts["train_regular"] += len(exp["seeds"]) + sum(len(g["seeds"]) for g in groups)
        counts["train_star"] += len(exp["stars"])
        permuted = {(p.a, p.b) for p in pairs if p.alignment == "permuted"}
        counts["align_interpolate"] += len(permuted)  # alignment + permuted curve, one job
        counts["interpolate"] += len(pairs) - len(permuted)  # naive curves
    return counts


def filled_config() -> dict:
    from snakemake.utils import validate

    config = copy.deepcopy(CONFIG)
    validate(config, str(REPO / "workflow/schemas/config.schema.yaml"))
    return config


def dry_run(workdir: Path, names: list[str]) -> tuple[dict[str, int], float]:
    """`snakemake -n --config 'all=[...]'` on the shipped config: jobs per rule, CPU seconds used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = snakemake(workdir, CONFIG, "-n", "--config", f"all=[{','.join(names)}]")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return job_counts(proc.stdout), cpu


@pytest.mark.slow
def test_main_experiment_dag_matches_the_design(tmp_path):
    counts, cpu = dry_run(tmp_path, ["cifar10_resnet18"])
    # 55 regular models; 10 stars (N = 50, the N ablation 1..40, Beta(2,2), t = 0.5); 5 x 5
    # regular-regular pairs, 10 stars x 5 held-out, star x min(N, 5) anchors; 118 permuted (one
    # job aligns and interpolates each) + 75 naive
    heavy = ("train_regular", "train_star", "align_interpolate", "interpolate")
    assert {k: counts[k] for k in heavy} == dict(
        train_regular=55, train_star=10, align_interpolate=118, interpolate=75
    )
    assert counts == {**expected_counts(filled_config(), ["cifar10_resnet18"]), **{
        k: 1 for k in ("barriers", "curves", "describe_stars", "table1", "fig2", "all")}}  # fmt: skip
    assert cpu < 10, f"building the DAG took {cpu:.1f} CPU seconds"


@pytest.mark.slow
def test_every_paper_experiment_dag_matches_the_design(tmp_path):
    counts, _ = dry_run(tmp_path, PAPER)
    expected = expected_counts(filled_config(), PAPER)
    assert {k: counts[k] for k in expected} == expected
    assert counts["barriers"] == counts["curves"] == len(PAPER)


@pytest.mark.slow
def test_imagenet_ffcv_switch_adds_only_the_beton_jobs(tmp_path):
    """data.loader: ffcv, set on the command line as docs/experiments.md shows."""
    write_imagefolder(tmp_path / "imagenet", classes=2, per_class=1)
    config = copy.deepcopy(CONFIG)
    config["experiments"]["imagenet_resnet18"]["data"]["root"] = str(tmp_path / "imagenet")
    select = "all=[imagenet_resnet18]"
    plain = job_counts(snakemake(tmp_path / "torch", config, "-n", "--config", select).stdout)
    switch = "experiments={imagenet_resnet18: {data: {loader: ffcv}}}"
    proc = snakemake(tmp_path / "ffcv", config, "-n", "--config", select, switch)
    assert "ffcv_beton" not in plain
    assert job_counts(proc.stdout) == {**plain, "ffcv_beton": 2}  # train/ and val/, written once
    for split in ("train", "val"):
        assert f"{tmp_path}/imagenet/ffcv/{split}_500_0.50_90.beton" in proc.stdout


def scaled_down(root: Path) -> dict:
    """cifar10_resnet18 as shipped, scaled down in epochs, models, width and (fake) data size."""
    exp = copy.deepcopy(EXPERIMENTS["cifar10_resnet18"])
    exp["data"]["root"] = str(root)
    exp["model"]["width"] = 8  # the ResNet-18 topology (BN, residual streams) at 1/64 of the cost
    exp["train"]["epochs"] = 2
    exp.update(seeds=[0, 1], n_anchors=1, n_heldout=1, stars={"main": {"epochs": 2}})
    exp["eval"] = dict(grid=[0.0, 0.5, 1.0], pair_anchors=1)
    return {"all": ["cifar10_resnet18"], "experiments": {"cifar10_resnet18": exp}}


@pytest.mark.slow
def test_scaled_down_resnet18_cifar10_runs_every_stage(tmp_path):
    write_cifar(tmp_path / "cifar10", n_train=200, n_test=100)
    snakemake(tmp_path, scaled_down(tmp_path / "cifar10"))
    barriers = pd.read_csv(tmp_path / "results/cifar10_resnet18/barriers.csv")
    assert len(barriers) == 5  # regular-regular and star-heldout (naive, permuted), star-anchor
    permuted = barriers[barriers["alignment"] == "permuted"]
    assert (permuted["max_abs_output_change"] < 1e-3).all()  # BN included, eval mode
    assert (permuted["fraction_moved"] > 0).all()
    assert (barriers["barrier_loss_train"] >= 0).all() and barriers.notna().all().all()
    model = io.load_model(
        tmp_path / "results/cifar10_resnet18/regular/0.pt",
        dict(model=scaled_down(tmp_path)["experiments"]["cifar10_resnet18"]["model"],
             in_shape=[3, 32, 32], num_classes=10),
    )  # fmt: skip
    assert len(model["metrics"]) == 2 and torch.isfinite(model["state"]["linear.weight"]).all()
    for path in ("figures/table1.csv", "figures/fig2.png", "results/cifar10_resnet18/star/main.pt"):
        assert (tmp_path / path).stat().st_size > 0


@pytest.mark.parametrize(
    "model,message",
    [
        (dict(name="vgg", depth=13), "model.depth: 13 is not allowed; allowed values: [11, 19]"),
        (dict(name="wrn", depth=23), "model.depth: 23 is not allowed; allowed values: [10, 16"),
        (dict(name="resnet50"), "model.name: 'resnet50' is not allowed; allowed values: ['mlp'"),
    ],
)
def test_bad_architecture_settings_fail_before_any_job(model, message):
    from stardomain.design import ConfigError
    from stardomain.schema import check_schema

    config = copy.deepcopy(CONFIG)
    config["experiments"]["cifar10_vgg11"]["model"] = model
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    with pytest.raises(ConfigError) as err:
        check_schema(config, schema)
    assert f"experiments.cifar10_vgg11.{message}" in str(err.value)


def validated(name: str) -> dict:
    from snakemake.utils import validate

    config = copy.deepcopy(CONFIG)
    validate(config, str(REPO / "workflow/schemas/config.schema.yaml"))
    design.expand_replicates(config)
    return config["experiments"][name]


@pytest.mark.parametrize("name", sorted(MIXED))
def test_mixed_recipe_experiments_have_the_authors_held_out_sets(name):
    exp = EXPERIMENTS[name]
    groups = exp["heldout_groups"]
    assert set(groups) == set(MIXED[name])
    for group, (n, recipe, k) in MIXED[name].items():
        assert len(groups[group]["seeds"]) == n and groups[group].get("train", {}) == recipe
        assert groups[group]["pair_anchors"] == k


@pytest.mark.parametrize(
    "name", ["cifar10_resnet18_many_heldouts", "cifar10_resnet18_adam_sgd_mixed"]
)
def test_mixed_experiments_repeat_the_main_models_so_the_store_serves_them(name):
    """Same params, same store key: the 50 anchors, the 5 held-out models and the N = 50 star of
    cifar10_resnet18 are restored, not trained again (docs/fidelity.md)."""
    from stardomain.jobs import RegularJob, StarJob

    main, mixed = validated("cifar10_resnet18"), validated(name)
    for seed in main["seeds"]:
        assert RegularJob.of(name, mixed, seed).params() == RegularJob.of("c", main, seed).params()
    assert StarJob.of(name, mixed, "main").params() == StarJob.of("c", main, "main").params()


def test_warmup_mixed_borrows_the_main_held_out_models_for_its_no_warmup_group():
    from stardomain.jobs import RegularJob

    main, mixed = validated("cifar10_resnet18"), validated("cifar10_resnet18_warmup_mixed")
    for seed in mixed["heldout_groups"]["no_warmup"]["seeds"]:
        borrowed = RegularJob.of("w", mixed, seed, "no_warmup").params()
        assert borrowed == RegularJob.of("c", main, seed).params() and seed in main["seeds"]
    assert RegularJob.of("w", mixed, 0).recipe.warmup_epochs == 5
