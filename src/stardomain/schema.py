"""The config as files and as a schema: strict YAML parsing, `--config` values given the schema's
types, and schema errors as one short message per problem, each naming the key path.

Used by the Snakefile before any job (`stardomain.checks` adds the checks a schema cannot express).
"""

from __future__ import annotations

import os

import yaml
from jsonschema import Draft202012Validator

from stardomain.design import ConfigError


def check_unique_keys(paths) -> None:
    """Parse YAML config files strictly, before Snakemake does (its own message names no file).

    A syntax error is refused naming the file, line and column, with the offending line shown
    (and where a bracket or block was opened, that line too); a key defined twice as well (YAML
    loaders silently keep the last one: a duplicated experiment name would hide an experiment).
    """

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
    problems = _problems(config, schema, [])
    if problems:
        raise ConfigError("invalid config:\n  " + "\n  ".join(problems))


def check_group_recipes(config: dict, schema: dict) -> None:
    """The recipe of every held-out group (`heldout_groups.<g>.train` over the experiment's
    `train:`) against the schema of `train:`, one message per problem naming the group's key."""
    train = schema["$defs"]["experiment"]["properties"]["train"]
    problems = []
    for name, exp in config["experiments"].items():
        for group, spec in (exp.get("heldout_groups") or {}).items():
            recipe = {**exp["train"], **(spec.get("train") or {})}
            at = ["experiments", name, "heldout_groups", group, "train"]
            problems += _problems(recipe, train, at)
    if problems:
        raise ConfigError("invalid config:\n  " + "\n  ".join(problems))


def _problems(instance, schema: dict, prefix: list) -> list[str]:
    """One short message per schema problem of `instance`, its key path starting with `prefix`."""
    problems = []
    errors = Draft202012Validator(schema).iter_errors(instance)
    for err in sorted(errors, key=lambda e: list(e.path)):
        at = _key_path([*prefix, *err.absolute_path]) or "<config>"
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
    return problems


def configfiles_of(argv: list[str]) -> list[str]:
    """The files a Snakemake command line gives with `--configfile(s)` (one or more paths each)."""
    paths, taking = [], False
    for arg in argv[1:]:
        name, eq, value = arg.partition("=")
        if name in ("--configfile", "--configfiles"):
            taking = not eq
            paths += [value] if eq else []
        elif arg.startswith("-"):
            taking = False
        elif taking:
            paths.append(arg)
    return paths


def check_command_line_configfiles(argv: list[str]) -> None:
    """`check_unique_keys` of the `--configfile` files of `argv`, exiting with its message.

    Snakemake parses those files in its command line, before the Snakefile runs, and names neither
    the file nor the line of a syntax error; the workflow's profile (profiles/default) calls this
    while Snakemake loads it, which is earlier still. A path that does not exist is refused with
    the reason it usually has: a target written after `--configfile a.yaml` (argparse gives the
    option every following word), with the three ways to write it.
    """
    paths = configfiles_of(argv)
    for path in paths:
        if not os.path.exists(path):
            raise SystemExit(
                f"Error in a --configfile: no file {path!r}. Snakemake reads every word after "
                "--configfile, up to the next option, as a config file, so a target written "
                f"after the files is read as one: put targets first (snakemake {path} "
                f"--configfile a.yaml), or end the files with -- (snakemake --configfile a.yaml "
                f"-- {path}), or give each file as --configfile=a.yaml"
            )
    try:
        check_unique_keys([p for p in paths if os.path.isfile(p)])
    except ConfigError as err:
        raise SystemExit(f"Error in a --configfile: {err}") from None
