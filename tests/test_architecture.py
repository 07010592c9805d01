"""The library's import graph: no circles, the maths never imports the stage layer, no snakemake.

Layers (src/stardomain/stages/__init__.py): workflow rules -> scripts -> `stardomain.stages` ->
the maths and infrastructure -> data and models. Every import of a `stardomain` module counts,
including imports inside functions (a function-level import is how a circle hides).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from conftest import REPO

SRC = REPO / "src"
PACKAGE = SRC / "stardomain"


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(path: Path) -> dict[str, int]:
    """stardomain modules imported by the file at `path` -> line of the first import.

    `from a.b import c` counts as an import of `a.b.c` when that is a module, else of `a.b`.
    """
    found: dict[str, int] = {}
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            targets = [
                f"{node.module}.{alias.name}"
                if f"{node.module}.{alias.name}" in MODULES
                else node.module
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            if target.split(".")[0] == "stardomain":
                found.setdefault(target, node.lineno)
    return found


GRAPH = {name: imports_of(path) for name, path in MODULES.items()}


def find_cycle(graph: dict[str, dict[str, int]]) -> list[str] | None:
    """One import circle of `graph` as [m1, m2, ..., m1], or None (depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in graph.get(node, {}):
            if nxt == node or nxt not in graph:
                continue
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in graph:
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_import_graph_has_no_circle():
    assert find_cycle(GRAPH) is None, " -> ".join(find_cycle(GRAPH))


def test_the_cycle_finder_finds_a_planted_circle():
    planted = {**GRAPH, "stardomain.barrier": {**GRAPH["stardomain.barrier"], "stardomain.io": 1}}
    planted["stardomain.io"] = {**GRAPH["stardomain.io"], "stardomain.barrier": 1}
    assert find_cycle(planted) is not None


@pytest.mark.parametrize("name", [m for m in MODULES if not m.startswith("stardomain.stages")])
def test_only_the_stage_layer_imports_the_stage_layer(name):
    upward = {m: line for m, line in GRAPH[name].items() if m.startswith("stardomain.stages")}
    assert not upward, f"{MODULES[name]} imports the stage layer: {upward}"


def test_the_library_never_imports_snakemake():
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            modules = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            assert not any(m.split(".")[0] == "snakemake" for m in modules), name


def test_every_rules_file_has_its_stage_module():
    """One stage module per rules file (common.smk holds the rules' shared helpers)."""
    rules = {p.stem for p in (REPO / "workflow" / "rules").glob("*.smk")} - {"common"}
    stages = {p.stem for p in (PACKAGE / "stages").glob("*.py")} - {"__init__", "common"}
    assert rules == stages


def test_scripts_call_the_stage_layer_only():
    """A workflow script imports `stardomain.stages`, the typed settings it builds from params
    (`stardomain.jobs`, `stardomain.settings`, `stardomain.design.Pair`) and provenance/tracking
    helpers: no maths."""
    allowed = (
        "stardomain.stages",
        "stardomain.jobs",
        "stardomain.settings",
        "stardomain.design",
        "stardomain.provenance",
        "stardomain.tracking",
        "stardomain.joblog",
    )
    for script in (REPO / "workflow" / "scripts").glob("*.py"):
        for target in imports_of(script):
            assert target.startswith(allowed), f"{script.name} imports {target}"


# The config layer reads the validated config (a dict by nature) and builds the typed settings
# from it; every other module takes typed settings (stardomain.settings, stardomain.jobs).
CONFIG_LAYER = ("stardomain.schema", "stardomain.checks", "stardomain.design", "stardomain.settings",
                "stardomain.jobs")  # fmt: skip
# Parameter names that hold settings when a function takes them untyped.
SETTINGS_NAMES = {"cfg", "config", "settings", "recipe", "star", "align", "evaluation", "style",
                  "tracker", "exp", "section", "model_cfg", "data_cfg"}  # fmt: skip
# Dicts that are records, not settings: what a file stores or a row holds, read back as written.
RECORDS = {
    "obj": "the dict torch.save writes (io.save_torch)",
    "arch": "a model file's architecture record (stages.common.arch_of), compared on load",
    "provenance": "a model's provenance record (provenance.job_provenance)",
    "info": "how a permutation was found, stored in its file",
    "key": "a resume file's key: the provenance record it belongs to",
    "line": "matplotlib line keyword arguments",
    "r": "one row of Table 1",
    "report": "one epoch's history row",
    "made_with": "the settings record a model file's provenance must hold (jobs.made_with)",
    "recorded": "a provenance's settings record, compared with an expected one (io.load_model)",
    "expected": "the settings record a file must hold (io.record_difference)",
}


def settings_dict_parameters(path: Path) -> list[str]:
    """`function(parameter: annotation)` of every parameter of a function in the file at `path`
    that takes a bag of settings: a settings name (`SETTINGS_NAMES`) that is not annotated with a
    settings type, or any bare dict (`dict`, `dict | None`, `Mapping`, `dict[str, Any]`) that is
    not one of the `RECORDS`. Typed containers of data (state dicts `dict[str, torch.Tensor]`,
    paths `dict[str, str]`) are not settings."""
    bare = {"dict", "dict | None", "Mapping", "dict[str, Any]", "dict[str, object]", "Any", None}
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        args = node.args
        for arg in args.posonlyargs + args.args + args.kwonlyargs:
            note = ast.unparse(arg.annotation) if arg.annotation is not None else None
            named = arg.arg in SETTINGS_NAMES and (note in bare or note.startswith("dict"))
            if named or (note in bare - {None} and arg.arg not in RECORDS):
                found.append(f"{node.name}({arg.arg}: {note})")
    return found


@pytest.mark.parametrize("name", [m for m in MODULES if not m.startswith(CONFIG_LAYER)])
def test_no_function_below_the_config_layer_takes_a_settings_dict(name):
    assert not settings_dict_parameters(MODULES[name]), MODULES[name]


def test_the_settings_dict_check_finds_a_planted_one(tmp_path):
    planted = tmp_path / "planted.py"
    planted.write_text(
        "def f(recipe: dict, state: dict[str, int], cfg, bag: dict, seed: int, obj: dict): ...\n"
    )
    assert settings_dict_parameters(planted) == ["f(recipe: dict)", "f(cfg: None)", "f(bag: dict)"]


def script_shape_problem(source: str) -> str | None:
    """Why a script could fail before its log is open, or None: a script is its docstring, the
    import of `stardomain.joblog.job` and one `with job(snakemake.log[0], ...)` block that holds
    everything else (imports included), so every failure ends the log with its traceback."""
    body = ast.parse(source).body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    head = ast.unparse(body[0]) if body else ""
    if head != "from stardomain.joblog import job":
        return f"its first statement is {head!r}, not the import of stardomain.joblog.job"
    if len(body) != 2 or not isinstance(body[1], ast.With):
        return "everything after the import of job must be one `with job(...)` block"
    if not ast.unparse(body[1].items[0].context_expr).startswith("job(snakemake.log[0]"):
        return "its block is not `with job(snakemake.log[0], ...)`"
    return None


@pytest.mark.parametrize("script", sorted((REPO / "workflow" / "scripts").glob("*.py")), ids=str)
def test_every_script_does_all_its_work_inside_its_log(script):
    assert script_shape_problem(script.read_text()) is None, (
        f"{script.name}: {script_shape_problem(script.read_text())}"
    )


def test_the_shape_check_catches_work_before_the_log():
    early = (
        (REPO / "workflow/scripts/train_regular.py")
        .read_text()
        .replace(
            "from stardomain.joblog import job\n",
            "from stardomain.joblog import job\n\nsettings = snakemake.params.settings\n",
        )
    )
    assert "one `with job(...)` block" in script_shape_problem(early)
    late = "from stardomain.stages.pairs import concat_csvs\nfrom stardomain.joblog import job\n"
    assert "not the import of stardomain.joblog.job" in script_shape_problem(late)
