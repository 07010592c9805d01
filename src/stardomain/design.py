"""Experiment design from a validated config: model ids, anchors, held-out models, stars, pairs.

What the workflow computes follows from these functions (the rules turn their answers into file
paths); the config is checked before, by `stardomain.checks`. The pair kinds and why each is
evaluated: docs/method.md, "Pairs".

Model ids: `regular-<seed>` (trained with the experiment's `train:` recipe, named `train` in pair
rows and tables), `regular_<group>-<seed>` (a held-out model of `heldout_groups.<group>`, trained
with that group's recipe) and `star-<name>`.
"""

from __future__ import annotations

from dataclasses import dataclass

from stardomain.data.ffcv_data import beton_sources
from stardomain.settings import DataSettings, StarSettings


class ConfigError(ValueError):
    """A config value is wrong; the message starts with its key path."""


MAIN_RECIPE = "train"  # the experiment's own recipe (`train:`), as pair rows and tables name it


@dataclass(frozen=True)
class Pair:
    """One interpolation pair: model ids a (target) and b (moved onto a when permuted)."""

    kind: str  # regular-regular | star-heldout | star-anchor
    alignment: str  # naive | permuted
    a: str
    b: str

    @property
    def recipe_a(self) -> str:
        return recipe_of(self.a)

    @property
    def recipe_b(self) -> str:
        return recipe_of(self.b)


def regular_id(seed: int, group: str | None = None) -> str:
    """Id of the regular model of `seed`: of the experiment's recipe, or of held-out `group`."""
    return f"regular-{seed}" if group is None else f"regular_{group}-{seed}"


def recipe_of(model_id: str) -> str:
    """The recipe a model id was trained with: its held-out group's, or MAIN_RECIPE (regular
    models of the experiment's `train:`, and stars, which Starlight trains with that recipe)."""
    role = model_id.split("-", 1)[0]
    return role.removeprefix("regular_") if role.startswith("regular_") else MAIN_RECIPE


def star_id(name: str) -> str:
    return f"star-{name}"


def anchors(exp: dict) -> list[int]:
    """Seeds of the anchor pool: the first `n_anchors` seeds."""
    return exp["seeds"][: exp["n_anchors"]]


def heldout(exp: dict) -> list[int]:
    """Seeds of the held-out models: the last `n_heldout` seeds (never shown to Starlight)."""
    return exp["seeds"][len(exp["seeds"]) - exp["n_heldout"] :]


def heldout_groups(exp: dict) -> dict[str, dict]:
    """`heldout_groups` of an experiment: group name -> {seeds, train (overrides), pair_anchors}."""
    return exp.get("heldout_groups") or {}


def group_recipe(exp: dict, group: str | None) -> dict:
    """The `train:` recipe of held-out `group` (None: the experiment's own): the experiment's
    recipe with the group's `train:` keys replaced."""
    if group is None:
        return exp["train"]
    return {**exp["train"], **(heldout_groups(exp)[group].get("train") or {})}


def group_pairs(exp: dict, group: str, alignments: tuple[str, ...]) -> list[Pair]:
    """The pairs of held-out `group`: its models against the first `pair_anchors` anchors
    (regular-regular across the two recipes) and against every star (star-heldout), and, when
    its recipe differs from the experiment's, with each other (regular-regular within it)."""
    spec = heldout_groups(exp)[group]
    k = spec.get("pair_anchors") or exp["eval"]["pair_anchors"]
    ids = [regular_id(s, group) for s in spec["seeds"]]
    out = [
        Pair("regular-regular", alignment, regular_id(a), h)
        for a in anchors(exp)[:k]
        for h in ids
        for alignment in alignments
    ]
    if spec.get("train"):
        out += [
            Pair("regular-regular", alignment, ids[i], ids[j])
            for i in range(len(ids))
            for j in range(i + 1, len(ids))
            for alignment in alignments
        ]
    for name in exp["stars"]:
        full = exp["stars"][name].get("pairs", "all") == "all"
        for h in ids:
            for alignment in alignments if full else ("permuted",):
                out.append(Pair("star-heldout", alignment, star_id(name), h))
    return out


def replicate_name(name: str, k: int) -> str:
    """Name of replicate k (2, 3, ...) of star `name`; replicate 1 is the star itself."""
    return f"{name}_r{k}"


def expand_replicates(config: dict) -> None:
    """Add the replicates of every star with `replicates: k` > 1 to its experiment's stars.

    Replicate k is star `<name>_r<k>`: the same settings with seed `seed + k - 1` and
    `replicate_of: <name>`; tables pool a star's replicates (table1.table1). The first replicate is
    the star itself, so adding `replicates` to a trained star reruns nothing of it. Call after the
    schema filled the defaults, before `check_config` (which then checks the replicates' seeds).
    """
    for exp_name, exp in config["experiments"].items():
        stars = exp["stars"]
        for name, star in list(stars.items()):
            for k in range(2, (star.get("replicates") or 1) + 1):
                replicate = replicate_name(name, k)
                if replicate in stars:
                    fail(
                        f"experiments.{exp_name}.stars.{replicate}",
                        f"name taken by a replicate of stars.{name} (replicates: "
                        f"{star['replicates']}); rename the star",
                    )
                settings = {key: v for key, v in star.items() if key != "replicates"}
                stars[replicate] = dict(settings, seed=star["seed"] + k - 1, replicate_of=name)


def star_settings(exp: dict, name: str) -> StarSettings:
    """Star `name` of experiment `exp`, resolved: its anchor seeds (the first `n_anchors` of the
    pool, null: all) and epochs (null: `train.epochs`).

    `replicates`, `replicate_of` and `pairs` say how many stars there are and which pairs
    evaluate them, not how to train one: they stay in the config (`replicate_of`, `pairs`).
    """
    star = exp["stars"][name]
    n = star["n_anchors"] if star["n_anchors"] is not None else exp["n_anchors"]
    epochs = star["epochs"] if star["epochs"] is not None else exp["train"]["epochs"]
    return StarSettings.of(dict(star, anchors=anchors(exp)[:n], epochs=epochs))


def replicate_of(exp: dict, name: str) -> str:
    """The star that star `name` is a replicate of (itself for a first replicate)."""
    return exp["stars"][name].get("replicate_of", name)


def pairs(exp: dict) -> list[Pair]:
    """Every pair the paper evaluates (docs/method.md, "Pairs"; the paper's §4).

    `eval.naive: false` drops the unpermuted pairs; a star with `pairs: heldout_permuted` is paired
    only with the held-out models, after permutation. The pairs of held-out groups come last
    (`group_pairs`), so an experiment without groups has the pairs it always had.
    """
    k = exp["eval"]["pair_anchors"]
    alignments = ("naive", "permuted") if exp["eval"].get("naive", True) else ("permuted",)
    out = []
    for a in anchors(exp)[:k]:
        for h in heldout(exp):
            for alignment in alignments:
                out.append(Pair("regular-regular", alignment, regular_id(a), regular_id(h)))
    for name in exp["stars"]:
        s = star_id(name)
        full = exp["stars"][name].get("pairs", "all") == "all"
        for h in heldout(exp):
            for alignment in alignments if full else ("permuted",):
                out.append(Pair("star-heldout", alignment, s, regular_id(h)))
        if full:
            for a in star_settings(exp, name).anchors[:k]:
                out.append(Pair("star-anchor", "permuted", s, regular_id(a)))
    for group in heldout_groups(exp):
        out += group_pairs(exp, group, alignments)
    return out


def pair_kind(exp: dict, a: str, b: str) -> str:
    """Kind of the pair of model ids a, b: regular-regular, star-heldout or star-anchor."""
    if a.startswith("regular"):
        return "regular-regular"
    main, _, seed = b.partition("-")
    return "star-heldout" if main != "regular" or int(seed) in heldout(exp) else "star-anchor"


def ensemble_stars(exp: dict) -> list[str]:
    """Star names of the ensemble / BMA comparison (`ensemble.stars`; null = every star)."""
    chosen = exp.get("ensemble", {}).get("stars")
    return list(exp["stars"]) if chosen is None else list(chosen)


def fail(path: str, message: str) -> None:
    raise ConfigError(f"{path}: {message}")


def beton_writers(experiments: dict) -> dict:
    """Every `.beton` file the experiments read (data.loader: ffcv) -> its `write_beton` arguments.

    Experiments that share a file must write it from the same data.root (else ConfigError).
    """
    writers: dict = {}  # path -> (first experiment naming it, its write_beton arguments)
    for name, exp in experiments.items():
        if DataSettings.of(exp["data"]).loader != "ffcv":
            continue
        for path, source in beton_sources(DataSettings.of(exp["data"])).items():
            first, known = writers.setdefault(path, (name, source))
            if known["root"] != source["root"]:
                fail(
                    f"experiments.{name}.data.ffcv.dir",
                    f"{path} would also be written by experiments.{first} from another data.root "
                    f"({known['root']!r} vs {source['root']!r}); give one of them its own ffcv.dir",
                )
    return {path: source for path, (_, source) in writers.items()}


# The ablation figures, by the config key that selects them: figure -> what the figures file names
ABLATIONS = ("n_anchors", "t_sampling", "width_depth", "ensemble")


def figure_groups(figures: dict) -> dict[str, list[str]]:
    """Ablation figure (one of `ABLATIONS`) -> the experiments it compares, for those `figures:` sets."""
    out = {}
    if figures.get("n_sweep"):
        out["n_anchors"] = [figures["n_sweep"]["experiment"]]
    if figures.get("t_sampling"):
        out["t_sampling"] = [figures["t_sampling"]["experiment"]]
    sweeps = list(figures.get("width_sweep") or []) + list(figures.get("depth_sweep") or [])
    if sweeps:
        out["width_depth"] = sweeps
    if figures.get("ensemble"):
        out["ensemble"] = list(figures["ensemble"])
    return out


def wanted_figures(config: dict) -> dict[str, list[str]]:
    """The ablation figures a run of `all` builds: those comparing an experiment in `all`.

    `snakemake --config 'all=[cifar10_resnet18]'` thus builds that experiment only, not the digits
    sweeps the default figures compare.
    """
    selected = set(config["all"])
    groups = figure_groups(config.get("figures") or {})
    return {figure: exps for figure, exps in groups.items() if selected & set(exps)}


def built_experiments(config: dict) -> list[str]:
    """Experiments a run of `all` computes: `all` and those its ablation figures compare."""
    names = list(config["all"])
    for exps in wanted_figures(config).values():
        names += exps
    return list(dict.fromkeys(names))


def job_resources(config: dict, exp: str | None, rule: str) -> dict:
    """Cluster requests of one job of `rule` for experiment `exp` (None: a job of no experiment).

    Config `resources.<request>.<rule>` (schema defaults filled), each entry overridden by
    `experiments.<exp>.resources.<request>.<rule>`; requests set nowhere are left out.
    Returns e.g. {"runtime": 120, "mem_mb": 16000, "slurm_partition": "gpu"} (minutes, MB).
    """
    own = config["experiments"][exp].get("resources", {}) if exp is not None else {}
    top = config.get("resources", {})
    out = {}
    for request in dict.fromkeys([*top, *own]):
        value = own.get(request, {}).get(rule, top.get(request, {}).get(rule))
        if value is not None:
            out[request] = value
    return out
