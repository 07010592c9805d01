"""Rerun triggers (docs/reruns.md) in real Snakemake runs: data is known by name, not by folder;
keys that change no number rerun nothing; nested --config overrides keep their types."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import snakemake, tiny_config
from fake_data import write_mnist

TARGET, LOG = "results/tiny/regular/0.pt", "logs/tiny/regular/0.log"


def mnist_config(**data) -> dict:
    config = tiny_config()
    exp = config["experiments"]["tiny"]
    exp["data"] = {"name": "mnist", **data}
    exp["train"]["epochs"] = 1
    return config


@pytest.mark.slow
def test_moved_data_reruns_nothing_and_is_found_in_the_store(tmp_path: Path):
    work, first, site = tmp_path / "work", tmp_path / "first", tmp_path / "site"
    write_mnist(first, n_train=100, n_test=30)
    snakemake(work, mnist_config(root=str(first)), TARGET)
    trained = (work / TARGET).read_bytes()

    shutil.move(first, site / "mnist")  # another folder: data.root, then the site-wide folder
    for config, env in [
        (mnist_config(root=str(site / "mnist")), {}),
        (dict(mnist_config(), data_root=str(site)), {}),
        (mnist_config(), {"STARDOMAIN_DATA": str(site)}),
    ]:
        proc = snakemake(work, config, TARGET, "-n", env=env)
        assert "Nothing to be done" in proc.stdout + proc.stderr, (config, proc.stdout)

    shutil.rmtree(work / "results")
    snakemake(work, dict(mnist_config(), data_root=str(site)), TARGET)
    assert "restored from store" in (work / LOG).read_text()
    assert (work / TARGET).read_bytes() == trained


@pytest.mark.slow
def test_store_null_on_the_command_line_turns_the_store_off(tmp_path: Path):
    snakemake(tmp_path, tiny_config(), TARGET, "--config", "store=null")
    assert (tmp_path / TARGET).exists()
    assert not (tmp_path / "null").exists() and not (tmp_path / "store").exists()


def reordered(value):
    """`value` with the keys of every dict in reverse order."""
    if isinstance(value, dict):
        return {k: reordered(value[k]) for k in reversed(list(value))}
    return value


@pytest.mark.slow
def test_written_defaults_and_reordered_keys_rerun_nothing(tmp_path: Path):
    """The params of every job are its resolved, sorted settings (stardomain.settings): after a
    full run, the same experiment with defaults written out, or its keys in another order, plans
    no job; a changed value plans its jobs."""
    config = tiny_config()
    snakemake(tmp_path, config)
    same = [
        (reordered(config), ()),
        (config, ("--config", "experiments={tiny: {train: {momentum: 0.9}}}")),
        (config, ("--config", "experiments={tiny: {eval: {bn_batches: null}}}")),
        (config, ("--config", "experiments={tiny: {stars: {main: {t_sampling: uniform}}}}")),
        (
            config,
            ("--config", "experiments={tiny: {data: {split_seed: 0}, model: {batchnorm: false}}}"),
        ),
    ]
    for variant, args in same:
        proc = snakemake(tmp_path, variant, "-n", *args, sort_keys=False)
        assert "Nothing to be done" in proc.stdout + proc.stderr, (args, proc.stdout[-2000:])
    proc = snakemake(
        tmp_path, config, "-n", "--config", "experiments={tiny: {train: {momentum: 0.8}}}"
    )
    assert "train_regular" in proc.stdout and "Nothing to be done" not in proc.stdout
