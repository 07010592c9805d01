"""Held-out models trained with other recipes (`heldout_groups`): ids, pairs and their recipes,
the group's recipe, the checks that refuse a group of other data, architecture or seeds before any
job, and (slow) a real Snakemake run and its partial reruns."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from stardomain import design
from stardomain.checks import check_config
from stardomain.design import ConfigError
from stardomain.jobs import RegularJob

from conftest import snakemake, tiny_config
from helpers import tiny_experiment

ADAM = {"seeds": [10, 11, 12], "train": {"optimizer": "adam", "lr": 0.01}}


def grouped(**groups) -> dict:
    """The tiny experiment (2 anchors, 2 held-out, star main) with `groups` as heldout_groups."""
    exp = tiny_experiment()
    exp["heldout_groups"] = {
        g: {"pair_anchors": None, "train": {}, **spec} for g, spec in groups.items()
    }
    return exp


def test_ids_and_recipes_of_group_models():
    assert design.regular_id(3) == "regular-3" and design.regular_id(3, "adam") == "regular_adam-3"
    assert design.recipe_of("regular_no_warmup-3") == "no_warmup"
    assert design.recipe_of("regular-3") == design.recipe_of("star-main") == design.MAIN_RECIPE


def test_a_groups_recipe_is_the_experiments_with_its_keys_replaced():
    exp = grouped(adam=ADAM)
    recipe = design.group_recipe(exp, "adam")
    assert recipe == {**exp["train"], "optimizer": "adam", "lr": 0.01}
    main, adam = RegularJob.of("t", exp, 0), RegularJob.of("t", exp, 10, "adam")
    assert (adam.recipe.optimizer, adam.recipe.lr, adam.recipe.epochs) == ("adam", 0.01, 3)
    assert main.recipe.optimizer == "sgd" and main.data == adam.data and main.model == adam.model


def test_group_pairs_across_within_and_with_the_star():
    exp = grouped(adam=ADAM, more={"seeds": [20, 21]})
    before = design.pairs(tiny_experiment())
    pairs = design.pairs(exp)
    assert pairs[: len(before)] == before  # an experiment's own pairs come first, unchanged
    added = pairs[len(before) :]
    permuted = [(p.kind, p.recipe_a, p.recipe_b) for p in added if p.alignment == "permuted"]
    count = {k: permuted.count(k) for k in set(permuted)}
    assert count == {
        ("regular-regular", "train", "adam"): 1 * 3,  # pair_anchors (1) x the group
        ("regular-regular", "adam", "adam"): 3,  # within the other recipe: 3 choose 2
        ("star-heldout", "train", "adam"): 3,
        ("regular-regular", "train", "more"): 1 * 2,  # same recipe: no pairs within
        ("star-heldout", "train", "more"): 2,
    }
    assert {p.alignment for p in added} == {"naive", "permuted"}  # as eval.naive
    assert design.pair_kind(exp, "star-main", "regular_adam-10") == "star-heldout"
    assert design.pair_kind(exp, "star-main", "regular-0") == "star-anchor"


def test_a_groups_pair_anchors_and_a_stars_heldout_only_pairs():
    exp = grouped(adam=dict(ADAM, pair_anchors=2))
    exp["stars"]["main"]["pairs"] = "heldout_permuted"
    added = [p for p in design.pairs(exp) if "adam" in (p.recipe_a, p.recipe_b)]
    across = {p.a for p in added if p.kind == "regular-regular" and p.recipe_a == "train"}
    assert across == {"regular-0", "regular-1"}
    assert {p.alignment for p in added if p.kind == "star-heldout"} == {"permuted"}


@pytest.mark.parametrize(
    "spec,key,message",
    [
        ({"seeds": [1]}, "heldout_groups.g.seeds", "1 is also in experiments.tiny.seeds"),
        ({"seeds": [10000]}, "heldout_groups.g.seeds", "also in experiments.tiny.stars.main.seed"),
        (
            {"seeds": [10], "model": {"name": "mlp", "width": 16}},
            "heldout_groups.g.model",
            "differs",
        ),
        ({"seeds": [10], "data": {"name": "mnist"}}, "heldout_groups.g.data", "differs"),
        ({"seeds": [10], "pair_anchors": 5}, "heldout_groups.g.pair_anchors", "exceeds n_anchors"),
    ],
    ids=["anchor-seed", "star-seed", "architecture", "dataset", "pair-anchors"],
)
def test_a_group_of_other_seeds_data_or_architecture_is_refused(spec, key, message):
    config = tiny_config()
    config["experiments"]["tiny"] = grouped(g=spec)
    with pytest.raises(ConfigError, match=rf"experiments\.tiny\.{key}: .*{message}"):
        check_config(config)


def test_the_same_data_and_architecture_written_out_is_accepted():
    config = tiny_config()
    exp = grouped(g={"seeds": [10]})
    exp["heldout_groups"]["g"].update(data={"name": "digits", "split_seed": 0}, model=exp["model"])
    config["experiments"]["tiny"] = exp
    check_config(config)


def group_config(**train) -> dict:
    config = tiny_config()
    config["experiments"]["tiny"]["heldout_groups"] = {
        "adam": {"seeds": [10, 11], "train": {"optimizer": "adam", "lr": 0.01, **train}}
    }
    return config


def test_mismatched_group_is_refused_by_a_dry_run_naming_the_key_and_writing_nothing(tmp_path):
    config = group_config()
    config["experiments"]["tiny"]["heldout_groups"]["adam"]["model"] = {"name": "cnn"}
    proc = snakemake(tmp_path, config, "-n", check=False)
    assert proc.returncode != 0
    assert "experiments.tiny.heldout_groups.adam.model:" in proc.stdout + proc.stderr
    assert not (tmp_path / "results").exists() and not (tmp_path / "store").exists()
    config = group_config(optimizer="lbfgs")
    proc = snakemake(tmp_path, config, "-n", check=False)
    assert "experiments.tiny.heldout_groups.adam.train.optimizer: 'lbfgs' is not allowed" in (
        proc.stdout + proc.stderr
    )


def planned(proc) -> set[str]:
    """The jobs a dry run plans, as 'rule exp=... a=... b=...' lines."""
    lines = proc.stdout.splitlines()
    return {
        f"{lines[i].split()[1].rstrip(':')} {lines[j].strip()}"
        for i, line in enumerate(lines)
        if line.startswith("rule ")
        for j in range(i + 1, min(i + 12, len(lines)))
        if lines[j].strip().startswith("wildcards:")
    }


@pytest.mark.slow
def test_a_mixed_recipe_experiment_runs_and_reruns_only_the_changed_group(tmp_path: Path):
    """The tiny experiment with held-out Adam models: every pair row names both recipes, Table 1
    has the group's row, and changing the group's recipe reruns its models and their pairs only."""
    snakemake(tmp_path, group_config())
    barriers = pd.read_csv(tmp_path / "results/tiny/barriers.csv")
    adam = barriers[barriers["recipe_b"] == "adam"]
    assert set(zip(adam["kind"], adam["recipe_a"], strict=True)) == {
        ("regular-regular", "train"),
        ("regular-regular", "adam"),
        ("star-heldout", "train"),
    }
    assert (barriers[barriers["recipe_b"] == "train"]["b"].str.startswith("regular-")).all()
    table = pd.read_csv(tmp_path / "figures/table1.csv")
    assert set(table["heldout_recipe"]) == {"train", "adam"}

    proc = snakemake(tmp_path, group_config(lr=0.02), "-n")
    jobs = planned(proc)
    trained = {j for j in jobs if j.startswith("train_")}
    assert trained == {
        "train_regular wildcards: exp=tiny, regular=regular_adam, seed=10",
        "train_regular wildcards: exp=tiny, regular=regular_adam, seed=11",
    }
    curves = {j for j in jobs if j.startswith(("align_interpolate", "interpolate"))}
    assert curves and all("regular_adam-" in j for j in curves)
    assert len(curves) == len(adam)  # every pair with an Adam model, and no other
