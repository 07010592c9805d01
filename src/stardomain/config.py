"""Experiment design from a validated config: model ids, anchors, held-out models, stars, pairs.

The JSON schema (`workflow/schemas/config.schema.yaml`) checks types, ranges and unknown keys and
fills defaults; `check_config` adds the checks a schema cannot express (counts that must agree, the
grid's endpoints, the experiments named by `all`). Errors name the key path and the allowed values.
"""

from __future__ import annotations

from dataclasses import dataclass

from stardomain.data import DATASETS
from stardomain.models import REGISTRY, import_factory, is_import_path
from stardomain.perm import MATCHERS
from stardomain.precision import Precision


class ConfigError(ValueError):
    """A config value is wrong; the message starts with its key path."""


@dataclass(frozen=True)
class Pair:
    """One interpolation pair: model ids a (target) and b (moved onto a when permuted)."""

    kind: str  # regular-regular | star-heldout | star-anchor
    alignment: str  # naive | permuted
    a: str
    b: str


def regular_id(seed: int) -> str:
    return f"regular-{seed}"


def star_id(name: str) -> str:
    return f"star-{name}"


def anchors(exp: dict) -> list[int]:
    """Seeds of the anchor pool: the first `n_anchors` seeds."""
    return exp["seeds"][: exp["n_anchors"]]


def heldout(exp: dict) -> list[int]:
    """Seeds of the held-out models: the last `n_heldout` seeds (never shown to Starlight)."""
    return exp["seeds"][len(exp["seeds"]) - exp["n_heldout"] :]


def replicate_name(name: str, k: int) -> str:
    """Name of replicate k (2, 3, ...) of star `name`; replicate 1 is the star itself."""
    return f"{name}_r{k}"


def expand_replicates(config: dict) -> None:
    """Add the replicates of every star with `replicates: k` > 1 to its experiment's stars.

    Replicate k is star `<name>_r<k>`: the same settings with seed `seed + k - 1` and
    `replicate_of: <name>`; tables pool a star's replicates (summary.table1). The first replicate is
    the star itself, so adding `replicates` to a trained star reruns nothing of it. Call after the
    schema filled the defaults, before `check_config` (which then checks the replicates' seeds).
    """
    for exp_name, exp in config["experiments"].items():
        stars = exp["stars"]
        for name, star in list(stars.items()):
            for k in range(2, (star.get("replicates") or 1) + 1):
                replicate = replicate_name(name, k)
                if replicate in stars:
                    _fail(
                        f"experiments.{exp_name}.stars.{replicate}",
                        f"name taken by a replicate of stars.{name} (replicates: "
                        f"{star['replicates']}); rename the star",
                    )
                settings = {key: v for key, v in star.items() if key != "replicates"}
                stars[replicate] = dict(settings, seed=star["seed"] + k - 1, replicate_of=name)


def star_settings(exp: dict, name: str) -> dict:
    """A star's settings with defaults resolved: anchor seeds and epochs made explicit.

    `replicates` is left out: it says how many stars to train, not how to train this one.
    """
    star = {k: v for k, v in exp["stars"][name].items() if k != "replicates"}
    n = star["n_anchors"] if star["n_anchors"] is not None else exp["n_anchors"]
    star["anchors"] = anchors(exp)[:n]
    star["epochs"] = star["epochs"] if star["epochs"] is not None else exp["train"]["epochs"]
    return star


def pairs(exp: dict) -> list[Pair]:
    """Every pair the paper evaluates (PAPER.md, "Evaluation protocol").

    `eval.naive: false` drops the unpermuted pairs; a star with `pairs: heldout_permuted` is paired
    only with the held-out models, after permutation.
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
            for a in star_settings(exp, name)["anchors"][:k]:
                out.append(Pair("star-anchor", "permuted", s, regular_id(a)))
    return out


def ensemble_stars(exp: dict) -> list[str]:
    """Star names of the ensemble / BMA comparison (`ensemble.stars`; null = every star)."""
    chosen = exp.get("ensemble", {}).get("stars")
    return list(exp["stars"]) if chosen is None else list(chosen)


def _fail(path: str, message: str) -> None:
    raise ConfigError(f"{path}: {message}")


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
            _fail(f"{at}.{key}.name", f"unknown {key} {name!r}; allowed: {sorted(known)}")
    if exp["data"].get("loader") == "ffcv" and exp["data"]["name"] != "imagenet":
        _fail(
            f"{at}.data.loader",
            f"ffcv reads ImageFolder trees (data.name: imagenet), not {exp['data']['name']!r}; "
            "allowed for it: torch",
        )
    if exp["align"]["matcher"] not in MATCHERS:
        _fail(
            f"{at}.align.matcher",
            f"unknown matcher {exp['align']['matcher']!r}; allowed: {list(MATCHERS)}",
        )
    n_seeds = len(exp["seeds"])
    if exp["n_anchors"] + exp["n_heldout"] > n_seeds:
        _fail(
            f"{at}.n_anchors",
            f"n_anchors ({exp['n_anchors']}) + n_heldout ({exp['n_heldout']}) exceeds the "
            f"{n_seeds} seeds in {at}.seeds; anchors and held-out models must be distinct",
        )
    grid = exp["eval"]["grid"]
    if grid[0] != 0 or grid[-1] != 1 or sorted(grid) != list(grid):
        _fail(f"{at}.eval.grid", f"must be increasing from 0 to 1 inclusive, got {grid}")
    if exp["eval"]["pair_anchors"] > exp["n_anchors"]:
        _fail(
            f"{at}.eval.pair_anchors",
            f"{exp['eval']['pair_anchors']} exceeds n_anchors ({exp['n_anchors']})",
        )
    for star, settings in exp["stars"].items():
        n = settings["n_anchors"]
        if n is not None and n > exp["n_anchors"]:
            _fail(
                f"{at}.stars.{star}.n_anchors",
                f"{n} exceeds the anchor pool (n_anchors = {exp['n_anchors']})",
            )
        if settings["seed"] in exp["seeds"]:
            _fail(f"{at}.stars.{star}.seed", f"{settings['seed']} is also a regular seed")


def check_unique_keys(paths) -> None:
    """Parse YAML config files strictly, before Snakemake does (its own message names no file).

    A syntax error is refused naming the file, line and column, with the offending line shown
    (and where a bracket or block was opened, that line too); a key defined twice as well (YAML
    loaders silently keep the last one: a duplicated experiment name would hide an experiment).
    """
    import yaml

    class StrictLoader(yaml.SafeLoader):
        pass

    def construct_mapping(loader, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            key = loader.construct_object(key_node, deep=deep)
            if key in seen:
                raise ConfigError(
                    f"{key_node.start_mark.name}, line {key_node.start_mark.line + 1}: key "
                    f"{key!r} is defined twice (first on line {seen[key] + 1}); names must be unique"
                )
            seen[key] = key_node.start_mark.line
        return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)

    StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    for path in paths:
        with open(path) as f:
            text = f.read()
        loader = StrictLoader(text)  # a SafeLoader subclass: builds no arbitrary objects
        loader.name = str(path)  # the file in messages, not "<unicode string>"
        try:
            loader.get_single_data()
        except yaml.MarkedYAMLError as err:
            raise ConfigError(_yaml_syntax_message(str(path), text, err)) from None
        finally:
            loader.dispose()


def _yaml_syntax_message(path: str, text: str, err) -> str:
    """'<path>, line L, column C: <problem>' with the line and a caret under column C; then the
    line where the unfinished construct began (err.context_mark), if PyYAML names one."""
    lines = text.splitlines()

    def show(mark) -> str:
        line = lines[mark.line] if mark.line < len(lines) else ""
        number = str(mark.line + 1)
        return f"\n  {number} | {line}\n  {' ' * len(number)} | {' ' * mark.column}^"

    mark = err.problem_mark or err.context_mark
    problem = err.problem or err.context
    message = (
        f"{path}, line {mark.line + 1}, column {mark.column + 1}: YAML syntax error: {problem}"
    )
    message += show(mark)
    if err.context and err.context_mark and err.problem_mark:
        context = err.context_mark
        message += (
            f"\n{path}, line {context.line + 1}, column {context.column + 1}: {err.context} "
            f"that began here{show(context)}"
        )
    return message


def _key_path(path) -> str:
    return ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in path).replace(".[", "[")


_JSON_TYPES = {"null": type(None), "boolean": bool, "integer": int, "number": (int, float),
               "array": list, "object": dict, "string": str}  # fmt: skip


def _allowed_types(schema: dict, path: list) -> set[str]:
    """JSON types the schema allows at key `path` (empty when the path is not in the schema)."""

    def resolve(node: dict) -> dict:
        while "$ref" in node:  # only local references: #/$defs/<name>
            node = schema["$defs"][node["$ref"].rsplit("/", 1)[1]]
        return node

    node = resolve(schema)
    for key in path:
        if isinstance(key, int):
            node = node.get("items", {})
        elif key in node.get("properties", {}):
            node = node["properties"][key]
        elif isinstance(node.get("additionalProperties"), dict):
            node = node["additionalProperties"]
        else:
            return set()
        node = resolve(node)
    kinds = node.get("type", [])
    types = {kinds} if isinstance(kinds, str) else set(kinds)
    for sub in node.get("anyOf", []) + node.get("oneOf", []):
        types |= _allowed_types(resolve(sub), [])
    return types


def coerce_overrides(config: dict, overrides: dict, schema: dict) -> None:
    """Give `--config` values the types the schema expects, in `config` (in place).

    Snakemake parses a nested `--config` value as text (`experiments={x: {eval: {batch_size:
    512}}}` gives '512'), and a top-level `null` as the text 'null'. Each text leaf of `overrides`
    is read as YAML where the schema does not take text there, or where it is `null` and the
    schema takes null (so `store=null` turns the store off rather than naming a folder `null`).
    """
    import yaml

    def walk(value, path: list):
        if isinstance(value, dict):
            return {k: walk(v, [*path, k]) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, [*path, i]) for i, v in enumerate(value)]
        types = _allowed_types(schema, path)
        is_null = isinstance(value, str) and value in ("null", "Null", "NULL", "~")
        if not isinstance(value, str) or not types or ("string" in types and not is_null):
            return value
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
            return value
        fits = any(isinstance(parsed, _JSON_TYPES[t]) for t in types if t in _JSON_TYPES)
        return (
            parsed if fits and not (isinstance(parsed, bool) and "boolean" not in types) else value
        )

    def apply(node: dict, given: dict, path: list) -> None:  # only where --config set a value
        for key, value in given.items():
            if isinstance(value, dict) and isinstance(node.get(key), dict):
                apply(node[key], value, [*path, key])
            elif key in node:
                node[key] = walk(node[key], [*path, key])

    apply(config, overrides, [])


def check_schema(config: dict, schema: dict) -> None:
    """Validate `config` against the JSON schema; raise one short message per problem.

    jsonschema's own messages print the whole sub-schema; these name the key path, the offending
    value and the allowed values instead. Defaults are filled later by `snakemake.utils.validate`.
    """
    from jsonschema import Draft202012Validator

    problems = []
    for err in sorted(Draft202012Validator(schema).iter_errors(config), key=lambda e: list(e.path)):
        at = _key_path(err.absolute_path) or "<config>"
        if err.validator == "additionalProperties":
            allowed = sorted(err.schema.get("properties", {}))
            extra = sorted(set(err.instance) - set(allowed))
            problems.append(f"{at}: unknown key(s) {extra}; allowed keys: {allowed}")
        elif err.validator == "enum":
            problems.append(
                f"{at}: {err.instance!r} is not allowed; allowed values: {err.validator_value}"
            )
        elif err.validator == "anyOf" and "enum" in err.validator_value[0]:
            # a registry name or an import path (model.name, data.name)
            problems.append(
                f"{at}: {err.instance!r} is not allowed; allowed values: "
                f"{err.validator_value[0]['enum']} or an import path package.module:function"
            )
        elif err.validator == "type":
            hint = " (text in a nested --config value? use --configfile)"
            problems.append(
                f"{at}: {err.instance!r} has the wrong type; expected {err.validator_value}"
                + (hint if isinstance(err.instance, str) else "")
            )
        elif err.validator == "propertyNames":
            problems.append(f"{at}: name {err.instance!r} must match {err.validator_value}")
        else:
            problems.append(f"{at}: {err.message}")
    if problems:
        raise ConfigError("invalid config:\n  " + "\n  ".join(problems))


def check_config(config: dict) -> None:
    """Cross-key checks of the whole (schema-validated) config."""
    for i, name in enumerate(config["all"]):
        if name not in config["experiments"]:
            _fail(
                f"all[{i}]",
                f"unknown experiment {name!r}; defined: {sorted(config['experiments'])}",
            )
    for name, exp in config["experiments"].items():
        check_experiment(name, exp)
        if config.get("device") == "cpu":
            try:  # the precision's own check (fp16 needs a GPU), before any job
                Precision.of(exp["train"], "cpu")
            except ValueError as err:  # "train.amp: ..."
                raise ConfigError(f"experiments.{name}.{err}") from None
    beton_writers(config["experiments"])
    check_figures(config.get("figures", {}), config["experiments"])


def beton_writers(experiments: dict) -> dict:
    """Every `.beton` file the experiments read (data.loader: ffcv) -> its `write_beton` arguments.

    Experiments that share a file must write it from the same data.root (else ConfigError).
    """
    from stardomain.datasets.ffcv_data import beton_sources

    writers: dict = {}  # path -> (first experiment naming it, its write_beton arguments)
    for name, exp in experiments.items():
        if exp["data"].get("loader") != "ffcv":
            continue
        for path, source in beton_sources(exp["data"]).items():
            first, known = writers.setdefault(path, (name, source))
            if known["root"] != source["root"]:
                _fail(
                    f"experiments.{name}.data.ffcv.dir",
                    f"{path} would also be written by experiments.{first} from another data.root "
                    f"({known['root']!r} vs {source['root']!r}); give one of them its own ffcv.dir",
                )
    return {path: source for path, (_, source) in writers.items()}


def check_figures(figures: dict, experiments: dict) -> None:
    """Every experiment and star a figure names exists (`figures:` of the config)."""
    for key in ("n_sweep", "t_sampling"):
        selection = figures.get(key)
        if selection is None:
            continue
        exp = selection["experiment"]
        if exp not in experiments:
            _fail(
                f"figures.{key}.experiment",
                f"unknown experiment {exp!r}; defined: {sorted(experiments)}",
            )
        for i, star in enumerate(selection["stars"]):
            if star not in experiments[exp]["stars"]:
                _fail(
                    f"figures.{key}.stars[{i}]",
                    f"unknown star {star!r}; experiments.{exp}.stars: {sorted(experiments[exp]['stars'])}",
                )
    for key in ("width_sweep", "depth_sweep", "ensemble"):
        for i, exp in enumerate(figures.get(key, [])):
            if exp not in experiments:
                _fail(
                    f"figures.{key}[{i}]",
                    f"unknown experiment {exp!r}; defined: {sorted(experiments)}",
                )
    for key, field in (("width_sweep", "width"), ("depth_sweep", "depth")):
        values = [experiments[e]["model"][field] for e in figures.get(key, [])]
        if len(set(values)) != len(values):
            _fail(f"figures.{key}", f"experiments must differ in model.{field}, got {values}")
    for name, exp in experiments.items():
        for i, star in enumerate(exp.get("ensemble", {}).get("stars") or []):
            if star not in exp["stars"]:
                _fail(
                    f"experiments.{name}.ensemble.stars[{i}]",
                    f"unknown star {star!r}; defined: {sorted(exp['stars'])}",
                )


def figure_groups(figures: dict) -> dict[str, list[str]]:
    """Ablation figure rule -> the experiments it compares, for the figures `figures:` sets."""
    out = {}
    if figures.get("n_sweep"):
        out["fig_n_anchors"] = [figures["n_sweep"]["experiment"]]
    if figures.get("t_sampling"):
        out["table_t_sampling"] = [figures["t_sampling"]["experiment"]]
    sweeps = list(figures.get("width_sweep") or []) + list(figures.get("depth_sweep") or [])
    if sweeps:
        out["fig_width_depth"] = sweeps
    if figures.get("ensemble"):
        out["fig_ensemble"] = list(figures["ensemble"])
    return out


def wanted_figures(config: dict) -> dict[str, list[str]]:
    """The ablation figures a run of `all` builds: those comparing an experiment in `all`.

    `snakemake --config 'all=[cifar10_resnet18]'` thus builds that experiment only, not the digits
    sweeps the default figures compare.
    """
    selected = set(config["all"])
    groups = figure_groups(config.get("figures") or {})
    return {rule: exps for rule, exps in groups.items() if selected & set(exps)}


def built_experiments(config: dict) -> list[str]:
    """Experiments a run of `all` computes: `all` and those its ablation figures compare."""
    names = list(config["all"])
    for exps in wanted_figures(config).values():
        names += exps
    return list(dict.fromkeys(names))


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
    import importlib

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


def check_data(config: dict) -> None:
    """Download what `data.download` asks for, then refuse a run whose data files are absent.

    Called once before any job (Snakefile onstart), so downloads happen in one process.
    """
    from stardomain.data import fetch_data, missing_data

    for name in built_experiments(config):
        fetch_data(config["experiments"][name]["data"])
        problem = missing_data(config["experiments"][name]["data"])  # "data.root: ..."
        if problem is not None:
            raise ConfigError(f"experiments.{name}.{problem}")


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
