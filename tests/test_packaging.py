"""The conda environment (envs/stardomain.yaml) mirrors pyproject.toml's dependencies and, with
`--sdm conda`, installs this checkout from where Snakemake creates it (stardomain.condaenv)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
import yaml

from stardomain.condaenv import checkout_env, write_checkout_env

from conftest import REPO, snakemake, tiny_config

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


# A stand-in for conda on PATH: answers Snakemake's checks, and for `conda env create --file F`
# does what conda does with F's pip section (conda.env.installers.pip): writes it to a
# requirements file in F's folder and runs pip there; pip is real (a dry run, no network).
CONDA = """#!{python}
import json, os, subprocess, sys
args = sys.argv[1:]
if args == ["info", "--json"]:
    print(json.dumps({{"conda_prefix": os.path.dirname(os.path.dirname(sys.argv[0])),
                      "platform": "linux-64"}}))
elif args == ["--version"]:
    print("conda 24.7.1")
elif args[:2] == ["config", "--get"]:
    print(json.dumps({{"get": {{"channel_priority": "strict"}}}}))
elif args[:2] == ["env", "create"]:
    import yaml
    spec = args[args.index("--file") + 1]
    (pip,) = [d["pip"] for d in yaml.safe_load(open(spec))["dependencies"] if isinstance(d, dict)]
    folder = os.path.dirname(os.path.abspath(spec))
    with open(os.path.join(folder, "condaenv.requirements.txt"), "w") as f:
        f.write("\\n".join(pip) + "\\n")
    report = os.environ["CONDA_STANDIN_REPORT"]
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--no-deps",
                           "--no-index", "--no-build-isolation", "--report", report,
                           "-r", "condaenv.requirements.txt"], cwd=folder)
    json.dump({{"file": spec, "cwd": folder}}, open(report + ".conda.json", "w"))
    os.makedirs(args[args.index("--prefix") + 1])
    sys.exit(proc.returncode)
"""


@pytest.mark.slow
def test_sdm_conda_installs_this_checkout_from_where_snakemake_creates_the_env(tmp_path):
    """Real Snakemake, `--sdm conda --conda-create-envs-only` in a working directory away from
    the checkout: Snakemake copies the env file into .snakemake/conda/ and conda runs pip from
    there; pip must find this checkout (a real `pip install --dry-run` of the copied spec)."""
    conda = tmp_path / "conda/bin/conda"
    conda.parent.mkdir(parents=True)
    conda.write_text(CONDA.format(python=sys.executable))
    conda.chmod(0o755)
    report = tmp_path / "report.json"
    env = {"PATH": f"{conda.parent}:{os.environ['PATH']}", "CONDA_STANDIN_REPORT": str(report)}
    work = tmp_path / "work"
    proc = snakemake(work, tiny_config(), "--sdm", "conda", "--conda-create-envs-only",
                     check=False, env=env)  # fmt: skip
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    created = json.loads(Path(f"{report}.conda.json").read_text())
    copied = Path(created["file"])  # the file conda was given: Snakemake's copy
    assert copied.parent == work / ".snakemake/conda" and copied.suffix == ".yaml"
    (installed,) = json.loads(report.read_text())["install"]
    assert installed["metadata"]["name"] == "stardomain"
    assert installed["download_info"]["url"] == REPO.resolve().as_uri()  # this checkout
    assert installed["download_info"]["dir_info"] == {"editable": True}


def test_the_env_of_a_checkout_names_it_absolutely_and_differs_only_there(tmp_path):
    template = (REPO / "envs/stardomain.yaml").read_text()
    one, two = checkout_env(template, "/lab/a/stardomain"), checkout_env(template, "/lab/b/sd")
    diff = [(a, b) for a, b in zip(one.splitlines(), two.splitlines(), strict=True) if a != b]
    assert diff == [("      - -e /lab/a/stardomain", "      - -e /lab/b/sd")]
    kept = [line for line in template.splitlines() if line.strip() != "- -e .."]
    assert kept == [line for line in one.splitlines() if "-e /lab/a" not in line]
    path = write_checkout_env(REPO / "envs/stardomain.yaml", REPO, tmp_path / "envs")
    assert path == tmp_path / "envs/stardomain.yaml"
    (pip,) = [
        d["pip"] for d in yaml.safe_load(path.read_text())["dependencies"] if isinstance(d, dict)
    ]
    assert f"-e {REPO}" in pip
    with pytest.raises(ValueError, match="expected one pip line '- -e ..'"):
        checkout_env(template.replace("- -e ..", "- -e ../other"), REPO)
