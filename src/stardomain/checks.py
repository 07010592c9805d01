"""Cross-key config checks, before any job: what a JSON schema cannot express.

The JSON schema (`workflow/schemas/config.schema.yaml`, applied by `stardomain.schema` and
Snakemake's `validate`) checks types, ranges and unknown keys and fills defaults; `check_config`
adds counts that must agree, the grid's endpoints, the experiments named by `all` and by the
figures, and importable user factories. `check_extras`, `check_tracker` and `check_data` run at the
start of a real run: optional packages a key needs, a W&B login, and the data files. Errors name the key path and the allowed
values (`ConfigError`, from `stardomain.design`).
"""

from __future__ import annotations

import importlib

from stardomain.data import DATASETS, fetch_data, missing_data
from stardomain.design import ConfigError, beton_writers, built_experiments, fail
from stardomain.factories import import_factory, is_import_path
from stardomain.models import REGISTRY
from stardomain.perm import MATCHERS
from stardomain.precision import Precision
from stardomain.settings import DataSettings, ModelSettings, Recipe
from stardomain.tracking import wandb_login_problem


def check_experiment(name: str, exp: dict) -> None:
    """Cross-key checks of one (schema-validated) experiment."""
    at = f"experiments.{name}"
    for key, known in (("data", DATASETS), ("model", REGISTRY)):
        name = exp[key]["name"]
        if is_import_path(name):
            try:  # a user's factory: fail now if it cannot be imported, not in the first job
                import_factory(name, f"{at}.{key}.name")
            except ValueError as err:
                raise ConfigError(str(err)) from None
        elif name not in known:
            fail(f"{at}.{key}.name", f"unknown {key} {name!r}; allowed: {sorted(known)}")
    if exp["data"].get("loader") == "ffcv" and exp["data"]["name"] != "imagenet":
        fail(
            f"{at}.data.loader",
            f"ffcv reads ImageFolder trees (data.name: imagenet), not {exp['data']['name']!r}; "
            "allowed for it: torch",
        )
    if exp["align"]["matcher"] not in MATCHERS:
        fail(
            f"{at}.align.matcher",
            f"unknown matcher {exp['align']['matcher']!r}; allowed: {list(MATCHERS)}",
        )
    n_seeds = len(exp["seeds"])
    if exp["n_anchors"] + exp["n_heldout"] > n_seeds:
        fail(
            f"{at}.n_anchors",
            f"n_anchors ({exp['n_anchors']}) + n_heldout ({exp['n_heldout']}) exceeds the "
            f"{n_seeds} seeds in {at}.seeds; anchors and held-out models must be distinct",
        )
    grid = exp["eval"]["grid"]
    if grid[0] != 0 or grid[-1] != 1 or sorted(grid) != list(grid):
        fail(f"{at}.eval.grid", f"must be increasing from 0 to 1 inclusive, got {grid}")
    if exp["eval"]["pair_anchors"] > exp["n_anchors"]:
        fail(
            f"{at}.eval.pair_anchors",
            f"{exp['eval']['pair_anchors']} exceeds n_anchors ({exp['n_anchors']})",
        )
    for star, settings in exp["stars"].items():
        n = settings["n_anchors"]
        if n is not None and n > exp["n_anchors"]:
            fail(
                f"{at}.stars.{star}.n_anchors",
                f"{n} exceeds the anchor pool (n_anchors = {exp['n_anchors']})",
            )
        if settings["seed"] in exp["seeds"]:
            fail(f"{at}.stars.{star}.seed", f"{settings['seed']} is also a regular seed")
    check_heldout_groups(at, exp)


def check_heldout_groups(at: str, exp: dict) -> None:
    """Held-out groups solve the experiment's task with the experiment's architecture, from
    initialisations of their own (`heldout_groups`, docs/configuration.md)."""
    taken = {s: f"{at}.seeds" for s in exp["seeds"]}
    taken |= {star["seed"]: f"{at}.stars.{name}.seed" for name, star in exp["stars"].items()}
    for group, spec in (exp.get("heldout_groups") or {}).items():
        where = f"{at}.heldout_groups.{group}"
        for key, of in (("data", DataSettings), ("model", ModelSettings)):
            if key in spec and of.of(spec[key]).params() != of.of(exp[key]).params():
                fail(
                    f"{where}.{key}",
                    f"{spec[key]} differs from {at}.{key} ({exp[key]}): held-out models must "
                    f"be trained on the experiment's data with its architecture, only their "
                    f"recipe (train:) may differ; put other {key} in an experiment of its own",
                )
        for seed in spec["seeds"]:
            if seed in taken:
                fail(
                    f"{where}.seeds",
                    f"{seed} is also in {taken[seed]}: a shared seed is a shared initialisation, "
                    "so the models would not be independent; use other seeds",
                )
            taken[seed] = f"{where}.seeds"
        k = spec.get("pair_anchors")
        if k is not None and k > exp["n_anchors"]:
            fail(f"{where}.pair_anchors", f"{k} exceeds n_anchors ({exp['n_anchors']})")


def check_config(config: dict) -> None:
    """Cross-key checks of the whole (schema-validated) config."""
    for i, name in enumerate(config["all"]):
        if name not in config["experiments"]:
            fail(
                f"all[{i}]",
                f"unknown experiment {name!r}; defined: {sorted(config['experiments'])}",
            )
    for name, exp in config["experiments"].items():
        check_experiment(name, exp)
        if config.get("device") == "cpu":
            try:  # the precision's own check (fp16 needs a GPU), before any job
                Precision.of(Recipe.of(exp["train"]), "cpu")
            except ValueError as err:  # "train.amp: ..."
                raise ConfigError(f"experiments.{name}.{err}") from None
    beton_writers(config["experiments"])
    check_figures(config.get("figures", {}), config["experiments"])


def check_figures(figures: dict, experiments: dict) -> None:
    """Every experiment and star a figure names exists (`figures:` of the config)."""
    for key in ("n_sweep", "t_sampling"):
        selection = figures.get(key)
        if selection is None:
            continue
        exp = selection["experiment"]
        if exp not in experiments:
            fail(
                f"figures.{key}.experiment",
                f"unknown experiment {exp!r}; defined: {sorted(experiments)}",
            )
        for i, star in enumerate(selection["stars"]):
            if star not in experiments[exp]["stars"]:
                fail(
                    f"figures.{key}.stars[{i}]",
                    f"unknown star {star!r}; experiments.{exp}.stars: {sorted(experiments[exp]['stars'])}",
                )
    for key in ("width_sweep", "depth_sweep", "ensemble"):
        for i, exp in enumerate(figures.get(key, [])):
            if exp not in experiments:
                fail(
                    f"figures.{key}[{i}]",
                    f"unknown experiment {exp!r}; defined: {sorted(experiments)}",
                )
    for key, field in (("width_sweep", "width"), ("depth_sweep", "depth")):
        values = [
            getattr(ModelSettings.of(experiments[e]["model"]), field) for e in figures.get(key, [])
        ]
        if len(set(values)) != len(values):
            fail(f"figures.{key}", f"experiments must differ in model.{field}, got {values}")
    for name, exp in experiments.items():
        for i, star in enumerate(exp.get("ensemble", {}).get("stars") or []):
            if star not in exp["stars"]:
                fail(
                    f"experiments.{name}.ensemble.stars[{i}]",
                    f"unknown star {star!r}; defined: {sorted(exp['stars'])}",
                )


# config key -> (value that needs an optional package, the package to import, its pip extra)
EXTRAS = {
    "align.matcher": ("rebasin", "rebasin", "rebasin"),
    "data.loader": ("ffcv", "ffcv", "ffcv"),
}


def check_extras(config: dict) -> None:
    """Refuse a config that needs an optional package that cannot be imported (Snakefile onstart:
    before the first job of a run, where the jobs run).

    Checked: `align.matcher: rebasin` and `data.loader: ffcv` of the experiments a run of `all`
    computes, and `tracker.name: wandb`. The message names the key and the pip extra.
    """
    needs = [
        (f"experiments.{name}.{key}", value, module, extra)
        for name in built_experiments(config)
        for key, (value, module, extra) in EXTRAS.items()
        if config["experiments"][name].get(key.split(".")[0], {}).get(key.split(".")[1]) == value
    ]
    if config.get("tracker", {}).get("name") == "wandb":
        needs.append(("tracker.name", "wandb", "wandb", "wandb"))
    for key, value, module, extra in needs:
        try:
            importlib.import_module(module)
        except ImportError as err:
            raise ConfigError(
                f"{key}: {value!r} needs the optional package {module}, which cannot be imported "
                f"({err}); install it with: pip install -e '.[{extra}]' (or pip install "
                f"'stardomain[{extra}]'), or change {key.rsplit('.', 1)[1]}"
            ) from None


def check_tracker(config: dict) -> None:
    """Refuse `tracker.name: wandb` where W&B has no API key and is not offline (Snakefile
    onstart: before the first job, not in each training job)."""
    if config.get("tracker", {}).get("name") == "wandb":
        problem = wandb_login_problem()
        if problem is not None:
            raise ConfigError(f"tracker.name: 'wandb': {problem}")


def check_data(config: dict) -> None:
    """Download what `data.download` asks for, then refuse a run whose data files are absent.

    Called once before any job (Snakefile onstart), so downloads happen in one process.
    """
    for name in built_experiments(config):
        data = DataSettings.of(config["experiments"][name]["data"])
        fetch_data(data)
        problem = missing_data(data)  # "<key>: ..."
        if problem is not None and problem.startswith("data."):
            raise ConfigError(f"experiments.{name}.{problem}")
        if problem is not None:  # the top-level data_root
            raise ConfigError(f"{problem} (experiment {name})")
