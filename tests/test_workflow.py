"""Real Snakemake runs of the tiny experiment: outputs, nothing-to-do, and what a change reruns."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from conftest import job_counts, tiny_config


@pytest.fixture(scope="module")
def done(tmp_path_factory) -> Path:
    """A workdir where the tiny experiment ran to the end once."""
    from conftest import snakemake

    workdir = tmp_path_factory.mktemp("tiny")
    snakemake(workdir, tiny_config())
    return workdir


@pytest.mark.slow
def test_tiny_run_writes_every_output(done: Path):
    for path in ["figures/fig2.pdf", "figures/fig2.png", "figures/table1.csv", "figures/table1.md",
                 "results/tiny/barriers.csv", "results/tiny/curves.csv",
                 "results/tiny/regular/0.pt", "results/tiny/star/main.pt",
                 "results/tiny/perm/regular-0~regular-2.pt", "logs/tiny/star/main.log"]:  # fmt: skip
        assert (done / path).stat().st_size > 0, path
    barriers = pd.read_csv(done / "results/tiny/barriers.csv")
    # 1 anchor x 2 held-out regular pairs (naive + permuted), 2 star-heldout x 2, 1 star-anchor
    assert len(barriers) == 9
    assert sorted(barriers.groupby(["kind", "alignment"]).size().items()) == [
        (("regular-regular", "naive"), 2), (("regular-regular", "permuted"), 2),
        (("star-anchor", "permuted"), 1),
        (("star-heldout", "naive"), 2), (("star-heldout", "permuted"), 2),
    ]  # fmt: skip
    permuted = barriers[barriers["alignment"] == "permuted"]
    assert (permuted["matcher"] == "weight_matching").all()
    assert (permuted["max_abs_output_change"] < 1e-4).all()
    assert (permuted["fraction_moved"] > 0).all()
    assert (barriers["barrier_loss_train"] >= 0).all()
    curves = pd.read_csv(done / "results/tiny/curves.csv")
    assert set(curves["t"]) == {0.0, 0.5, 1.0} and set(curves["split"]) == {"train", "test"}
    table = pd.read_csv(done / "figures/table1.csv")
    assert (
        table.loc[0, "n_regular_regular_pairs"] == 2 and table.loc[0, "n_star_heldout_pairs"] == 2
    )
    assert "star-main" in (done / "figures/table1.md").read_text()
    assert "100%" in (done / "logs/tiny/regular/0.log").read_text()  # tqdm progress in the log


@pytest.mark.slow
def test_second_run_has_nothing_to_do(done: Path, run_snakemake):
    proc = run_snakemake(done, tiny_config(), "-n")
    assert "Nothing to be done" in proc.stdout + proc.stderr


@pytest.mark.slow
def test_changing_star_epochs_reruns_star_and_downstream_only(done: Path, run_snakemake):
    config = tiny_config()
    config["experiments"]["tiny"]["stars"]["main"]["epochs"] = 3
    counts = job_counts(run_snakemake(done, config, "-n").stdout)
    assert "train_regular" not in counts
    assert counts["train_star"] == 1
    assert counts["align_interpolate"] == 3  # star onto 2 held-out + 1 anchor, and their curves
    assert counts["interpolate"] == 2  # naive star-held-out; the regular-regular curves stay
    assert {"barriers", "curves", "table1", "fig2"} <= set(counts)


@pytest.mark.slow
def test_changing_a_regular_key_reruns_everything_downstream(done: Path, run_snakemake):
    config = tiny_config()
    config["experiments"]["tiny"]["train"]["lr"] = 0.04
    counts = job_counts(run_snakemake(done, config, "-n").stdout)
    assert counts["train_regular"] == 4 and counts["train_star"] == 1
    assert counts["align_interpolate"] == 5 and counts["interpolate"] == 4


@pytest.mark.slow
def test_a_figure_target_builds_only_what_it_needs(tmp_path: Path, run_snakemake):
    proc = run_snakemake(tmp_path, tiny_config(), "-n", "figures/fig2.pdf")
    counts = job_counts(proc.stdout)
    assert counts["fig2"] == 1 and "table1" not in counts and "barriers" not in counts
    assert counts["train_regular"] == 4


@pytest.mark.slow
def test_switching_the_matcher_reruns_alignment_and_downstream_only(done: Path, run_snakemake):
    config = tiny_config()
    config["experiments"]["tiny"]["align"] = {"matcher": "rebasin"}
    counts = job_counts(run_snakemake(done, config, "-n").stdout)
    assert (
        "train_regular" not in counts and "train_star" not in counts
    )  # Starlight keeps its matcher
    assert counts["align_interpolate"] == 5  # every permuted pair
    assert "interpolate" not in counts  # the 4 naive curves stay
    assert {"barriers", "curves", "table1", "fig2"} <= set(counts)


@pytest.mark.slow
def test_keys_that_change_no_number_rerun_nothing(done: Path, run_snakemake):
    config = tiny_config()
    exp = config["experiments"]["tiny"]
    exp["eval"]["batch_size"] = 7  # evaluation speed only
    exp["data"]["workers"] = 3  # loading speed only
    exp["stars"]["main"]["pairs"] = "all"  # which pairs are evaluated, not how the star trains
    proc = run_snakemake(done, config, "-n")
    assert "Nothing to be done" in proc.stdout + proc.stderr, proc.stdout


@pytest.mark.slow
def test_nested_config_overrides_keep_their_types(done: Path, run_snakemake):
    nested = "experiments={tiny: {eval: {batch_size: 512, grid: [0.0, 0.5, 1.0]}}}"
    proc = run_snakemake(done, tiny_config(), "-n", "--config", nested)
    assert "Nothing to be done" in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    proc = run_snakemake(
        done, tiny_config(), "-n", "--config", "experiments={tiny: {train: {lr: 0.04}}}"
    )
    assert job_counts(proc.stdout)["train_regular"] == 4  # a number, and a changed one
    proc = run_snakemake(
        done, tiny_config(), "-n", "--config", "experiments={tiny: {eval: {batch_size: big}}}",
        check=False,
    )  # fmt: skip
    message = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "experiments.tiny.eval.batch_size: 'big' has the wrong type" in message
    assert "use --configfile" in message
