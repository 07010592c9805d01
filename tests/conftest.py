"""Shared fixtures: a tiny experiment config, a runner for real Snakemake in a scratch folder, and the
inputs of a Starlight step for gradient tests."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]

# The tiny experiment of .test/config.yaml (4 regular models, 1 star, 3-point grid; ~30 s on 2 cores)
TINY = yaml.safe_load((REPO / ".test" / "config.yaml").read_text())


def tiny_config() -> dict:
    """A fresh deep copy of the tiny config (tests mutate it)."""
    return copy.deepcopy(TINY)


def snakemake(
    workdir: Path,
    config: dict,
    *args: str,
    check: bool = True,
    timeout: int = 900,
    pythonpath: list = (),
    env: dict | None = None,
    sort_keys: bool = True,
):
    """Run real Snakemake on this repository's Snakefile in `workdir` with `config` as config.yaml.

    The workflow's own config.yaml is not read: the test config replaces it (`--configfile` on a
    copy of the Snakefile's directory would merge with it). `pythonpath`: folders of a user's
    factories, after the checkout's src; `env`: extra environment variables; `sort_keys`: False
    writes config.yaml in `config`'s own key order. Returns the CompletedProcess.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=sort_keys))
    path = os.pathsep.join(str(p) for p in [REPO / "src", *pythonpath])
    env = dict(os.environ, PYTHONPATH=path, **(env or {}))
    cmd = [
        sys.executable, "-m", "snakemake",
        "--snakefile", str(REPO / "Snakefile"),
        "--directory", str(workdir),
        "--configfile", str(workdir / "config.yaml"),
        "--cores", "2",
        *args,
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture
def run_snakemake():
    return snakemake


def job_counts(dry_run_stdout: str) -> dict[str, int]:
    """Rule -> number of jobs, read from the 'Job stats' table of a `snakemake -n` run."""
    counts: dict[str, int] = {}
    lines = dry_run_stdout.splitlines()
    if "Job stats:" not in lines:
        return counts  # nothing to be done
    for line in lines[lines.index("Job stats:") + 3 :]:
        parts = line.split()
        if len(parts) != 2 or parts[0] == "total":
            break
        counts[parts[0]] = int(parts[1])
    return counts


def starlight_gradient_case():
    """A seeded MLP with BN, a random anchor, scratch BN buffers and a batch: the Starlight step's
    inputs (tests of its gradient). Returns model, params, anchor, scratch, x, y."""
    import torch

    from stardomain.models import MLP

    torch.manual_seed(0)
    model = MLP(64, 10, 8, 2, batchnorm=True)
    anchor = {k: torch.randn_like(v) for k, v in model.named_parameters()}
    scratch = {k: v.clone() for k, v in model.named_buffers()}
    x, y = torch.randn(16, 64), torch.randint(0, 10, (16,))
    return model, dict(model.named_parameters()), anchor, scratch, x, y


def assert_cases_cover(registry, cases, registry_name: str, cases_name: str) -> None:
    """The names a test's cases cover are exactly the names of `registry`.

    Tests that build their cases from a registry would lose cases without a word when an entry
    leaves it; and an entry added without a case would go untested. Both fail here, by name.
    """
    missing, extra = sorted(set(registry) - set(cases)), sorted(set(cases) - set(registry))
    problems = []
    if missing:
        problems.append(
            f"{registry_name} has {missing}, which {cases_name} does not cover: add them"
        )
    if extra:
        problems.append(f"{cases_name} expects {extra}, which {registry_name} no longer has")
    assert not problems, "; ".join(problems)
