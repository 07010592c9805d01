"""Reliability: determinism, divergence, corrupt inputs, atomic outputs, rerun scope, concurrency."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import torch

from stardomain import io
from stardomain.design import ConfigError
from stardomain.schema import check_unique_keys
from stardomain.settings import DataSettings
from stardomain.stages.train import run_train_regular
from stardomain.train import TrainingDiverged

from conftest import REPO, job_counts, tiny_config
from helpers import unit_job


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_config_and_seed_give_bitwise_identical_model_files(tmp_path: Path):
    run_train_regular(str(tmp_path / "a.pt"), unit_job(3), device="cpu")
    run_train_regular(str(tmp_path / "b.pt"), unit_job(3), device="cpu")
    run_train_regular(str(tmp_path / "c.pt"), unit_job(4), device="cpu")
    assert sha256(tmp_path / "a.pt") == sha256(tmp_path / "b.pt")
    assert sha256(tmp_path / "a.pt") != sha256(tmp_path / "c.pt")


def test_divergence_names_experiment_model_and_epoch_and_leaves_no_file(tmp_path: Path):
    settings = unit_job(0, lr=1e6, momentum=0.0)
    settings = replace(settings, model=replace(settings.model, batchnorm=False))
    out = tmp_path / "diverged.pt"
    with pytest.raises(TrainingDiverged, match=r"unit/regular-0, epoch 0: loss became (nan|inf)"):
        run_train_regular(str(out), settings, device="cpu")
    assert list(tmp_path.iterdir()) == []


def test_corrupt_foreign_and_wrong_architecture_files_are_refused(tmp_path: Path):
    good = tmp_path / "good.pt"
    run_train_regular(str(good), unit_job(0), device="cpu")
    arch = io.load_model(good)["arch"]
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:1000])
    with pytest.raises(io.FileFormatError, match="truncated.pt: not a readable"):
        io.load_model(truncated)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weight": torch.zeros(3)}, foreign)
    with pytest.raises(
        io.FileFormatError, match="foreign.pt: expected format 'stardomain.model/1'"
    ):
        io.load_model(foreign)
    with pytest.raises(io.FileFormatError, match="missing.pt: file not found"):
        io.load_model(tmp_path / "missing.pt")
    other = dict(arch, model=dict(arch["model"], width=16))
    with pytest.raises(io.FileFormatError, match="good.pt: architecture .* does not match"):
        io.load_model(good, other)
    assert io.load_model(good, arch)["provenance"]["seed"] == 0
    perm = tmp_path / "perm.pt"
    io.save_perm(perm, {"P_0": torch.arange(3)}, {"matcher": "weight_matching"})
    with pytest.raises(io.FileFormatError, match="perm.pt: expected format 'stardomain.model/1'"):
        io.load_model(perm)


def test_atomic_path_leaves_nothing_behind_on_failure(tmp_path: Path):
    target = tmp_path / "out.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError), io.atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_duplicate_experiment_names_are_refused(tmp_path: Path):
    path = tmp_path / "c.yaml"
    path.write_text("all: [a]\nexperiments:\n  a: {seeds: [0, 1]}\n  a: {seeds: [2, 3]}\n")
    with pytest.raises(
        ConfigError, match=r"c.yaml, line 4: key 'a' is defined twice \(first on line 3\)"
    ):
        check_unique_keys([path])


@pytest.mark.slow
def test_missing_data_files_stop_a_run_before_any_job(tmp_path: Path, run_snakemake):
    """CIFAR files absent and data.download off: the run stops naming the key; -n still works."""
    config = tiny_config()
    config["experiments"]["tiny"]["data"] = {"name": "cifar10", "root": str(tmp_path / "nowhere")}
    config["experiments"]["tiny"]["model"] = {"name": "cnn"}
    assert job_counts(run_snakemake(tmp_path, config, "-n").stdout)["train_regular"] == 4
    proc = run_snakemake(tmp_path, config, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "experiments.tiny.data.root: cifar10 files ['data_batch_1'" in out, out[-3000:]
    assert "or set data.download: true" in out
    assert not (tmp_path / "results").exists() and not (tmp_path / "logs").exists()


def test_missing_data_names_the_key_that_chose_the_folder(tmp_path: Path, monkeypatch):
    from stardomain.data import missing_data

    monkeypatch.setenv("STARDOMAIN_DATA", str(tmp_path / "site"))  # what data_root sets
    problem = missing_data(DataSettings.of({"name": "cifar10"}))
    assert problem.startswith("data_root: cifar10 files ['data_batch_1', "), problem
    assert f"(data_root = {str(tmp_path / 'site')!r}, the site's data folder" in problem
    assert "data.root" not in problem
    problem = missing_data(DataSettings.of({"name": "imagenet"}))
    assert problem.startswith(f"data_root: ImageNet folder {tmp_path / 'site/imagenet/train'} ")
    given = missing_data(DataSettings.of({"name": "cifar10", "root": str(tmp_path / "mine")}))
    assert given.startswith("data.root: ") and "data_root" not in given
    monkeypatch.delenv("STARDOMAIN_DATA")
    unset = missing_data(DataSettings.of({"name": "mnist"}))
    assert unset.startswith("data.root: ") and "(data.root = unset, so 'data/mnist'" in unset


@pytest.mark.slow
def test_missing_data_under_data_root_names_data_root(tmp_path: Path, run_snakemake):
    """Real Snakemake: `data_root` set, no `data.root`: the message names data_root, not data.root."""
    config = tiny_config()
    config["data_root"] = str(tmp_path / "site")
    config["experiments"]["tiny"]["data"] = {"name": "cifar10"}
    config["experiments"]["tiny"]["model"] = {"name": "cnn"}
    proc = run_snakemake(tmp_path / "work", config, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "data_root: cifar10 files ['data_batch_1'" in out and "(experiment tiny)" in out, out
    assert "data.root" not in out
    assert not (tmp_path / "work/results").exists() and not (tmp_path / "work/logs").exists()


@pytest.mark.slow
def test_changing_a_barrier_key_reruns_only_curves_and_downstream(tmp_path: Path, run_snakemake):
    run_snakemake(tmp_path, tiny_config())
    for key, value in [("grid", [0.0, 0.25, 0.5, 1.0]), ("bn_batches", 2)]:
        config = tiny_config()
        config["experiments"]["tiny"]["eval"][key] = value
        counts = job_counts(run_snakemake(tmp_path, config, "-n").stdout)
        assert counts.pop("interpolate") == 4, key  # naive curves
        assert counts.pop("align_interpolate") == 5, key  # permuted pairs: matching is redone too
        # an evaluation shortcut is also written into the design CSV that tables and figures read
        described = {"describe_stars"} if key == "bn_batches" else set()
        assert set(counts) == {"barriers", "curves", "table1", "fig2", "all"} | described, key
    assert job_counts(run_snakemake(tmp_path, tiny_config(), "-n").stdout) == {}


@pytest.mark.slow
def test_killed_run_never_leaves_an_output_a_rerun_accepts(tmp_path: Path):
    """SIGKILL the whole run mid-way, rerun, and compare with an uninterrupted run."""
    from conftest import snakemake

    workdir = tmp_path / "killed"
    workdir.mkdir()
    (workdir / "config.yaml").write_text(__import__("yaml").safe_dump(tiny_config()))
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
           "--directory", str(workdir), "--cores", "2"]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.time() + 120
    while time.time() < deadline and len(list((workdir / "results").rglob("*.pt"))) < 3:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # the run and every job it started, mid-write or not
    proc.wait()
    for leftover in (workdir / "results").rglob("*"):
        if leftover.is_file() and leftover.suffix == ".pt" and not leftover.name.startswith("."):
            io.load_model(leftover)  # every visible model file is complete
    snakemake(
        workdir, tiny_config(), "--unlock"
    )  # the killed run left its lock, as after a power loss
    snakemake(workdir, tiny_config())  # profiles/default: --rerun-incomplete
    reference = tmp_path / "reference"
    snakemake(reference, tiny_config(), "--cores", "1")
    ours = pd.read_csv(workdir / "results/tiny/barriers.csv")
    theirs = pd.read_csv(reference / "results/tiny/barriers.csv")
    pd.testing.assert_frame_equal(ours, theirs)  # also: --cores 2 and --cores 1 agree
