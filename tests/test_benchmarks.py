"""Every benchmark of benchmarks/ runs through its code paths at its smallest size and prints its
figures (docs/performance.md quotes them): a library change that breaks a benchmark fails here,
not months later when someone reruns it. Sizes are too small for the figures to mean anything;
only that each part runs and reports is checked. benchmarks/gpu_epoch.py has its own --smoke test
(tests/test_precision.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from conftest import REPO, snakemake, tiny_config


def run_bench(*args: str) -> subprocess.CompletedProcess:
    """Run `python benchmarks/<args>` with the checkout's src on the path."""
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), MPLBACKEND="Agg")
    cmd = [sys.executable, str(REPO / "benchmarks" / args[0]), *args[1:]]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)


def bench(*args: str) -> str:
    """`run_bench`, which must succeed; its stdout."""
    proc = run_bench(*args)
    assert proc.returncode == 0, f"{' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.mark.slow
@pytest.mark.parametrize(
    "args,texts",
    [
        (("barrier_curve.py", "--repeats", "1"), ["BN re-estimation batches", "k=full"]),
        (("coverage.py", "--reps", "20", "--resamples", "50", "--experiments", "digits"),
         ["| digits", "all together", "FPR"]),
        (("starlight_step.py", "--models", "mlp", "--repeats", "1"),
         ["starlight/plain =", "naive/plain =", "per-epoch overhead (MLP, bn=True"]),
        (("matching.py", "--parts", "1", "--models", "vgg11", "--repeats", "1", "--no-rebasin"),
         ["ours, goal < 60 s"]),
    ],
)  # fmt: skip
def test_benchmark_runs_at_its_smallest_size(args, texts, tmp_path):
    csv = args[0] == "coverage.py"  # writes its table as CSV, the others their figures as JSON
    written = tmp_path / ("out.csv" if csv else "out.json")
    out = bench(*args, "--csv" if csv else "--json", str(written))
    for text in texts:
        assert text in out, text
    if csv:
        assert len(pd.read_csv(written)) == 5  # digits: one row per model-effect scenario
    else:
        assert json.loads(written.read_text())  # the figures, written as promised


def test_coverage_names_an_unknown_experiment():
    proc = run_bench("coverage.py", "--experiments", "nope")
    assert proc.returncode != 0
    assert "--experiments: ['nope'] not in config.yaml's experiments" in proc.stderr


@pytest.mark.slow
def test_eval_subset_compares_the_shortcut_with_the_full_protocol_on_a_finished_run(tmp_path):
    """benchmarks/eval_subset.py on the trained models of a real (tiny) run, with shortcuts set."""
    config = tiny_config()
    config["experiments"]["tiny"]["eval"].update(train_subset=200, test_subset=100)
    snakemake(tmp_path, config)
    out = bench("eval_subset.py", "--experiment", "tiny", "--workdir", str(tmp_path),
                "--config", str(tmp_path / "config.yaml"), "--all", "--per-kind", "1",
                "--threads", "1", "--json", str(tmp_path / "subset.json"))  # fmt: skip
    barriers = pd.read_csv(tmp_path / "results/tiny/barriers.csv")
    kinds = {"regular-regular", "star-heldout"}
    assert kinds <= set(barriers["kind"])
    for kind in kinds:
        assert kind in out, kind
    assert json.loads((tmp_path / "subset.json").read_text())
