"""What each kind of job depends on, as one frozen object: the job's rerun triggers, its provenance
and its model-store key all come from `params()` of these objects.

    RegularJob  a regular model: experiment, seed, data, model, recipe
    StarJob     a star model: experiment, name, data, model, recipe, star, align (Starlight's)
    CurveJob    one pair's alignment and curve: data, model, evaluation, align (None: naive pair)
    EnsembleJob the ensemble / BMA comparison: experiment, data, model, evaluation, align, ensemble

The workflow builds them from the validated config (`of`, in workflow/rules/common.smk) and puts
`params()` into the rule's `params:`; the job's script rebuilds the same object with
`from_params(params, experiment config, **labels)` and passes its sections by keyword to one stage
function (stardomain.stages). The round trip is exact (tests/test_settings.py).

The experiment's and the star's names are labels (`label()` fields: log lines, tracker runs, table
rows), not part of params: a model depends on its settings and seed, not on what it is called, so
an experiment that repeats another's models (same data, model, recipe and seeds) restores them
from the model store instead of training them again.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import ClassVar

from stardomain import design
from stardomain.settings import (
    AlignSettings,
    DataSettings,
    EnsembleSettings,
    EvalSettings,
    ModelSettings,
    Recipe,
    Section,
    StarSettings,
    plain,
)


def label() -> str:
    """A field that names the job (experiment, star) without changing its numbers: not in params."""
    return field(metadata={"label": True})


class Job:
    """Base of the job objects: canonical params, and rebuilding from them."""

    # field -> (its settings type, the experiment's config key it is built from)
    sections: ClassVar[dict[str, tuple[type[Section], str]]] = {
        "data": (DataSettings, "data"),
        "model": (ModelSettings, "model"),
        "recipe": (Recipe, "train"),
        "star": (StarSettings, "stars"),
        "align": (AlignSettings, "align"),
        "evaluation": (EvalSettings, "eval"),
        "ensemble": (EnsembleSettings, "ensemble"),
    }

    def params(self) -> dict:
        """Every field but the labels, in canonical plain form (sorted keys): a rule's `params:`."""
        return {
            f.name: plain(getattr(self, f.name))
            for f in sorted(fields(self), key=_name)
            if not f.metadata.get("label")
        }

    @classmethod
    def from_params(cls, params: dict, exp: dict, **labels: str):
        """The job that `params` describe, named by `labels` (experiment=, name=); the `where`
        fields (data.root, eval.batch_size, ...) come from the experiment's config `exp`."""
        values = dict(labels)
        for f in fields(cls):
            if f.metadata.get("label"):
                continue
            value = params[f.name]
            if f.name in cls.sections and value is not None:
                section, key = cls.sections[f.name]
                value = section.from_params(value, exp.get(key))
            values[f.name] = value
        return cls(**values)


def _name(f) -> str:
    return f.name


@dataclass(frozen=True)
class RegularJob(Job):
    """What a regular model's weights depend on."""

    experiment: str = label()
    seed: int  # init and data order
    data: DataSettings
    model: ModelSettings
    recipe: Recipe

    @classmethod
    def of(cls, experiment: str, exp: dict, seed: int, group: str | None = None) -> RegularJob:
        """Regular model `seed` of the validated experiment config `exp` named `experiment`,
        trained with the recipe of held-out `group` (None: the experiment's `train:`). The group's
        name is not part of the job: a model depends on its recipe and seed only."""
        return cls(
            experiment=experiment,
            seed=seed,
            data=DataSettings.of(exp["data"]),
            model=ModelSettings.of(exp["model"]),
            recipe=Recipe.of(design.group_recipe(exp, group)),
        )


@dataclass(frozen=True)
class StarJob(Job):
    """What a star model's weights depend on (besides its anchors' bytes)."""

    experiment: str = label()
    name: str = label()  # the key of `stars:`
    data: DataSettings
    model: ModelSettings
    recipe: Recipe
    star: StarSettings
    align: AlignSettings  # Starlight's re-alignment (AlignSettings.for_starlight)

    @classmethod
    def of(cls, experiment: str, exp: dict, name: str) -> StarJob:
        return cls(
            experiment=experiment,
            name=name,
            data=DataSettings.of(exp["data"]),
            model=ModelSettings.of(exp["model"]),
            recipe=Recipe.of(exp["train"]),
            star=design.star_settings(exp, name),
            align=AlignSettings.of(exp["align"]).for_starlight(),
        )

    def anchor(self, seed: int) -> RegularJob:
        """The job of anchor `seed`: a regular model of the star's data, model and recipe."""
        return RegularJob(
            experiment=self.experiment,
            seed=seed,
            data=self.data,
            model=self.model,
            recipe=self.recipe,
        )


def made_with(experiment: str, exp: dict, model: str) -> dict:
    """The settings the file of model id `model` (stardomain.design's ids) must have been made
    with under the validated experiment config `exp`: its job's `params()`, which the model's
    provenance records (`io.load_model(made_with=...)` compares them)."""
    role, _, rest = model.partition("-")
    if role == "star":
        return StarJob.of(experiment, exp, rest).params()
    recipe = design.recipe_of(model)
    group = None if recipe == design.MAIN_RECIPE else recipe
    return RegularJob.of(experiment, exp, int(rest), group).params()


@dataclass(frozen=True)
class CurveJob(Job):
    """What a pair's curve depends on (besides the two models' bytes): a permuted pair's
    alignment too (`align`), a naive pair none (`align` None)."""

    data: DataSettings
    model: ModelSettings
    evaluation: EvalSettings
    align: AlignSettings | None

    @classmethod
    def of(cls, exp: dict, permuted: bool) -> CurveJob:
        return cls(
            data=DataSettings.of(exp["data"]),
            model=ModelSettings.of(exp["model"]),
            evaluation=EvalSettings.of(exp["eval"]),
            align=AlignSettings.of(exp["align"]) if permuted else None,
        )


@dataclass(frozen=True)
class EnsembleJob(Job):
    """What the ensemble / BMA comparison of an experiment depends on (besides the models)."""

    experiment: str = label()
    data: DataSettings
    model: ModelSettings
    evaluation: EvalSettings  # BN re-estimation of theta(t), as the curves
    align: AlignSettings  # the matcher aligning each star's anchors to it
    ensemble: EnsembleSettings

    @classmethod
    def of(cls, experiment: str, exp: dict) -> EnsembleJob:
        return cls(
            experiment=experiment,
            data=DataSettings.of(exp["data"]),
            model=ModelSettings.of(exp["model"]),
            evaluation=EvalSettings.of(exp["eval"]),
            align=AlignSettings.of(exp["align"]),
            ensemble=EnsembleSettings.of(exp["ensemble"]),
        )
