"""The conda environment (envs/stardomain.yaml) mirrors pyproject.toml's dependencies."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
import tomllib
import yaml

from conftest import REPO

CONDA_NAMES = {  # pip name -> conda-forge name, where they differ
    "torch": "pytorch",
    "matplotlib": "matplotlib-base",
    "seaborn": "seaborn-base",
    "snakemake": "snakemake-minimal",
}


def names(requirements: list[str]) -> dict[str, str]:
    """name -> version bound, from requirement strings like 'torch>=2.4'."""
    out = {}
    for req in requirements:
        match = re.match(r"([A-Za-z0-9_.-]+)\s*(.*)", req.split("#")[0].strip())
        out[match[1].lower()] = match[2].replace(" ", "")
    return out


def test_conda_env_mirrors_pyproject_dependencies():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((REPO / "envs/stardomain.yaml").read_text())
    conda = names([d for d in env["dependencies"] if isinstance(d, str)])
    for name, bound in names(project["dependencies"]).items():
        conda_name = CONDA_NAMES.get(name, name)
        assert conda_name in conda, f"envs/stardomain.yaml lacks {conda_name} ({name}{bound})"
        assert conda[conda_name] == bound, (name, bound, conda[conda_name])


@pytest.mark.slow
def test_conda_env_installs_this_checkout(tmp_path):
    """`--sdm conda` jobs import stardomain: the env's pip section installs this checkout. conda
    runs that pip in the env file's folder, so its path is resolved from envs/; pip accepts it as
    an installable project named stardomain (a real `pip install --dry-run`, no network)."""
    env = yaml.safe_load((REPO / "envs/stardomain.yaml").read_text())
    (pip,) = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
    (line,) = [p for p in pip if p.startswith("-e ")]
    checkout = (REPO / "envs" / line.removeprefix("-e ").strip()).resolve()
    assert checkout == REPO.resolve()
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--no-deps", "--no-index",
         "--no-build-isolation", "--report", str(tmp_path / "report.json"), "-e", line[3:]],
        cwd=REPO / "envs", capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert [i["metadata"]["name"] for i in report["install"]] == ["stardomain"]
