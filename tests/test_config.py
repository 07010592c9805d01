"""Config validation: bad configs fail before any job runs, with a message naming the key."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from stardomain.checks import check_config
from stardomain.design import ConfigError, pairs
from stardomain.schema import check_schema, check_unique_keys, configfiles_of
from stardomain.settings import (
    AlignSettings,
    DataSettings,
    EnsembleSettings,
    EvalSettings,
    ModelSettings,
    Recipe,
)

from conftest import REPO, tiny_config

SCHEMA = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())


def filled(config: dict) -> dict:
    """Schema defaults filled, as the Snakefile does (through snakemake.utils.validate)."""
    from snakemake.utils import validate

    validate(config, str(REPO / "workflow/schemas/config.schema.yaml"))
    return config


def test_shipped_config_validates_and_defaults_are_filled():
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    check_schema(config, SCHEMA)
    filled(config)
    check_config(config)
    exp = config["experiments"]["digits"]
    assert exp["eval"]["bn_batches"] is None and exp["stars"]["main"]["beta"] == [2.0, 2.0]
    kinds = [(p.kind, p.alignment) for p in pairs(exp) if p.a.startswith(("regular", "star-main"))]
    assert kinds.count(("regular-regular", "permuted")) == 25
    assert kinds.count(("star-heldout", "permuted")) == 5
    assert kinds.count(("star-anchor", "permuted")) == 5


def edit(path: str, value):
    """A tiny config with the value at dotted `path` (under experiments.tiny) replaced."""
    config = tiny_config()
    node = config["experiments"]["tiny"]
    *parents, last = path.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    return config


BAD = [  # (dotted path under experiments.tiny, bad value, text the error must contain)
    ("train.epoch", 3, "experiments.tiny.train: unknown key(s) ['epoch']"),
    ("train.epochs", "three", "experiments.tiny.train.epochs: 'three' has the wrong type"),
    ("train.epochs", -1, "experiments.tiny.train.epochs"),
    ("model.name", "resnet1000", "experiments.tiny.model.name: 'resnet1000' is not allowed"),
    ("stars.main.t_sampling", "gauss", "allowed values: ['uniform', 'beta', 'constant']"),
    ("n_anchors", 3, "experiments.tiny.n_anchors: n_anchors (3) + n_heldout (2) exceeds"),
    ("eval.grid", [0.1, 0.5, 1.0], "experiments.tiny.eval.grid: must be increasing from 0 to 1"),
    ("stars.main.n_anchors", 5, "experiments.tiny.stars.main.n_anchors: 5 exceeds"),
    ("seeds", [0, 1, 1, 2], "experiments.tiny.seeds"),
    ("data.name", "svhn", "experiments.tiny.data.name: 'svhn' is not allowed"),
    ("align.matcher", "optimal_transport", "experiments.tiny.align.matcher: 'optimal_transport'"),
    ("model.width", 2.5, "experiments.tiny.model.width"),
    ("stars.main.colour", "red", "experiments.tiny.stars.main: unknown key(s) ['colour']"),
    ("train.amp", "fp8", "experiments.tiny.train.amp: 'fp8' is not allowed; allowed values:"),
    ("train.amp", True, "experiments.tiny.train.amp: True is not allowed"),
    (
        "train.channels_last",
        "yes",
        "experiments.tiny.train.channels_last: 'yes' has the wrong type",
    ),
    ("data.loader", "dali", "experiments.tiny.data.loader: 'dali' is not allowed; allowed values"),
    ("data.loader", "ffcv", "experiments.tiny.data.loader: ffcv reads ImageFolder trees"),
    ("data.ffcv.quality", 90, "experiments.tiny.data.ffcv: unknown key(s) ['quality']"),
    ("data.ffcv.compress_probability", 1.5, "experiments.tiny.data.ffcv.compress_probability"),
    ("eval.grid", [0.0, 1.0], None),  # valid: the 2-point grid {0, 1} (control case)
    ("train.amp", "bf16", None),  # valid (control case)
]


@pytest.mark.parametrize("path,value,message", BAD, ids=[b[0] for b in BAD])
def test_bad_config_is_refused_with_the_key_path(path, value, message):
    config = edit(path, value)
    if message is None:
        check_schema(config, SCHEMA)
        check_config(filled(config))
        return
    with pytest.raises(ConfigError) as err:
        check_schema(config, SCHEMA)
        check_config(filled(config))
    assert message in str(err.value)


@pytest.mark.slow
def test_snakemake_refuses_bad_configs_before_any_job(tmp_path: Path, run_snakemake):
    for i, (path, value, message) in enumerate(BAD[:3] + BAD[5:6]):
        proc = run_snakemake(tmp_path / str(i), edit(path, value), "-n", check=False)
        assert proc.returncode != 0
        assert message in proc.stdout + proc.stderr
        assert "Job stats" not in proc.stdout and not (tmp_path / str(i) / "results").exists()


SECTIONS = {
    "data": DataSettings,
    "model": ModelSettings,
    "train": Recipe,
    "align": AlignSettings,
    "eval": EvalSettings,
    "ensemble": EnsembleSettings,
}


@pytest.mark.parametrize("key", sorted(SECTIONS))
def test_library_defaults_are_the_schemas(key):
    """A section left empty in config and filled by the schema is the dataclass's defaults."""
    config = tiny_config()
    config["experiments"]["tiny"][key] = {}
    section = SECTIONS[key]
    assert section.of(filled(config)["experiments"]["tiny"][key]) == section.of({})
    if key in ("train", "align", "eval", "ensemble"):  # no dataset or architecture to resolve
        assert section.of({}) == section()


def test_precision_keys_left_out_or_written_off_are_the_same_settings():
    """train.amp and train.channels_last left out, written as their default, or as YAML's unquoted
    `off` (false): the same recipe, so the same params (nothing reruns) and provenance."""
    assert "amp" not in filled(tiny_config())["experiments"]["tiny"]["train"]
    left_out = Recipe.of(filled(tiny_config())["experiments"]["tiny"]["train"])
    for amp in ("off", yaml.safe_load("amp: off")["amp"]):
        written = filled(edit("train.amp", amp))["experiments"]["tiny"]["train"]
        assert Recipe.of(dict(written, channels_last=False)).params() == left_out.params()
    config = edit("train.amp", yaml.safe_load("amp: off")["amp"])
    check_schema(config, SCHEMA)
    check_config(filled(config))
    config = edit("train.amp", "fp16")
    config["device"] = "cpu"
    with pytest.raises(ConfigError, match="experiments.tiny.train.amp: fp16 needs a GPU"):
        check_config(filled(config))


def test_experiments_sharing_a_beton_must_share_the_image_folder():
    config = tiny_config()
    imagenet = dict(name="imagenet", root="data/imagenet", loader="ffcv", ffcv={"dir": "betons"})
    config["experiments"]["tiny"]["data"] = imagenet
    config["experiments"]["other"] = dict(config["experiments"]["tiny"], data=dict(imagenet))
    check_config(filled(config))  # the same files from the same tree: shared, written once
    config["experiments"]["other"]["data"]["root"] = "data/imagenet_copy"
    with pytest.raises(ConfigError) as err:
        check_config(config)
    assert "experiments.other.data.ffcv.dir: betons/train_500_0.50_90.beton would also be" in str(
        err.value
    )
    config["experiments"]["other"]["data"]["ffcv"] = {"dir": "betons_copy"}
    check_config(config)


def test_replicates_become_stars_with_consecutive_seeds_and_leave_the_first_unchanged():
    from stardomain.design import expand_replicates, replicate_of, star_settings

    config = filled(edit("stars.main.replicates", 3))
    before = star_settings(filled(tiny_config())["experiments"]["tiny"], "main")
    expand_replicates(config)
    check_config(config)
    exp = config["experiments"]["tiny"]
    assert list(exp["stars"]) == ["main", "main_r2", "main_r3"]
    assert star_settings(exp, "main") == before  # `replicates` is no training setting
    second = star_settings(exp, "main_r2")
    assert second == replace(before, seed=before.seed + 1)
    assert replicate_of(exp, "main_r2") == "main" and replicate_of(exp, "main") == "main"
    assert star_settings(exp, "main_r3").seed == before.seed + 2
    stars = [p.a for p in pairs(exp) if p.kind == "star-heldout"]
    assert stars.count("star-main_r2") == stars.count("star-main") == 2 * 2  # naive + permuted


def test_replicates_refuse_a_taken_name_and_a_regular_seed():
    from stardomain.design import expand_replicates

    config = filled(edit("stars.main.replicates", 2))
    config["experiments"]["tiny"]["stars"]["main_r2"] = dict(
        config["experiments"]["tiny"]["stars"]["main"]
    )
    with pytest.raises(ConfigError, match=r"experiments\.tiny\.stars\.main_r2: name taken"):
        expand_replicates(config)
    config = filled(edit("stars.main.replicates", 3))
    config["experiments"]["tiny"]["seeds"] = [0, 1, 2, 3, 10]
    config["experiments"]["tiny"]["stars"]["main"]["seed"] = 9  # replicate 2 would be seed 10
    expand_replicates(config)
    with pytest.raises(ConfigError, match=r"stars\.main_r2\.seed: 10 is also a regular seed"):
        check_config(config)


def broken_config(tmp_path: Path) -> tuple[Path, int, str]:
    """The tiny config as config.yaml with `all:` last and its bracket left open: (path, line of
    the bracket, that line's text)."""
    config = tiny_config()
    del config["all"]
    text = yaml.safe_dump(config) + "all: [tiny\n"
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path, len(text.splitlines()), "all: [tiny"


def test_yaml_syntax_error_names_file_line_column_and_shows_the_line(tmp_path: Path):
    path, line, text = broken_config(tmp_path)
    with pytest.raises(ConfigError) as err:
        check_unique_keys([path])
    message = str(err.value)
    assert f"{path}, line {line + 1}, column 1: YAML syntax error: expected ',' or ']'" in message
    assert f"{path}, line {line}, column 6: while parsing a flow sequence" in message
    assert f"\n  {line} | {text}\n" in message and message.endswith(" " * 5 + "^")


@pytest.mark.slow
@pytest.mark.parametrize("given", ["config.yaml", "--configfile"])
def test_snakemake_shows_a_config_syntax_error_before_any_job(tmp_path: Path, given):
    """A real run (not -n) on a config file that Snakemake would refuse with a message naming no
    file: the workflow's config.yaml, or a file given with --configfile (which Snakemake reads in its
    command line, before the Snakefile). The project's message names the file and the line, and
    nothing runs."""
    path, line, text = broken_config(tmp_path)
    args = []
    if given == "--configfile":
        path = path.rename(tmp_path / "broken.yaml")
        (tmp_path / "config.yaml").write_text(yaml.safe_dump(tiny_config()))
        args = ["--configfile", str(path)]
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
           "--directory", str(tmp_path), "--cores", "1", *args]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert f"{path.name}, line {line}, column 6: while parsing a flow sequence" in out, out
    assert f"{line} | {text}" in out and "not valid JSON or YAML" not in out
    assert not (tmp_path / "results").exists() and not (tmp_path / "logs").exists()


@pytest.mark.slow
def test_a_target_after_configfile_is_refused_naming_it_and_the_order(tmp_path: Path):
    """Real Snakemake: `--configfile a.yaml all` would read `all` as a config file; the command
    stops with the project's message (not Snakemake's traceback), and the orders it names work."""
    (tmp_path / "a.yaml").write_text(yaml.safe_dump(tiny_config()))
    base = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
            "--directory", str(tmp_path), "--cores", "1", "-n"]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))

    def run(*args):
        return subprocess.run([*base, *args], capture_output=True, text=True, env=env, timeout=300)

    proc = run("--configfile", str(tmp_path / "a.yaml"), "all")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "Error in a --configfile: no file 'all'. Snakemake reads every word after" in out, out
    assert "put targets first (snakemake all --configfile a.yaml)" in out
    assert "Traceback" not in out and "FileNotFoundError" not in out
    for args in (["all", "--configfile", str(tmp_path / "a.yaml")],
                 ["--configfile", str(tmp_path / "a.yaml"), "--", "all"],
                 [f"--configfile={tmp_path / 'a.yaml'}", "all"]):  # fmt: skip
        proc = run(*args)
        assert proc.returncode == 0 and "train_regular" in proc.stdout, proc.stderr[-2000:]


def test_configfiles_are_read_from_a_snakemake_command_line():
    argv = [
        "snakemake",
        "-n",
        "--configfile",
        "a.yaml",
        "b.yaml",
        "--cores",
        "2",
        "--configfiles=c.yaml",
    ]
    assert configfiles_of(argv) == ["a.yaml", "b.yaml", "c.yaml"]
    assert configfiles_of(["snakemake", "--config", "all=[x]", "all"]) == []


@pytest.mark.slow
@pytest.mark.parametrize(
    "section, value, key, extra",
    [
        ("align", {"matcher": "rebasin"}, "experiments.tiny.align.matcher: 'rebasin'", "rebasin"),
        ("data", {"name": "imagenet", "root": "tree", "loader": "ffcv"},
         "experiments.tiny.data.loader: 'ffcv'", "ffcv"),
        ("tracker", {"name": "wandb"}, "tracker.name: 'wandb'", "wandb"),
    ],
)  # fmt: skip
def test_a_missing_optional_package_is_refused_before_any_job(tmp_path, section, value, key, extra):
    """Real Snakemake (a run, not a dry run), with the package made unimportable by a module of
    its name earlier on PYTHONPATH that raises ImportError: refused before the first job, with a
    message naming the key and the extra. A dry run still plans the DAG."""
    import os
    import subprocess
    import sys

    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / f"{extra}.py").write_text(f"raise ImportError('{extra} hidden by this test')\n")
    config = tiny_config()
    if section == "tracker":
        config["tracker"] = value
    else:
        config["experiments"]["tiny"][section] = value
    if section == "data":  # the .beton jobs need their image folders to plan the DAG
        from fake_data import write_imagefolder_smooth

        write_imagefolder_smooth(tmp_path / "tree", classes=2, per_class=(3, 1))
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
           "--directory", str(tmp_path), "--configfile", str(tmp_path / "config.yaml"),
           "--cores", "1"]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=f"{shadow}{os.pathsep}{REPO / 'src'}")
    dry = subprocess.run([*cmd, "-n"], capture_output=True, text=True, env=env, timeout=300)
    assert dry.returncode == 0 and "train_regular" in dry.stdout, dry.stdout + dry.stderr
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert f"{key} needs the optional package {extra}, which cannot be imported" in out, out
    assert f"{extra} hidden by this test" in out and f"pip install -e '.[{extra}]'" in out, out
    assert not (tmp_path / "logs").exists() and not (tmp_path / "results").exists()
