"""Two runs never write the same model at once (stardomain.locks): a job whose output another
process is writing waits, then restores the model from the store instead of training it again or
resuming from the other's side file; through real Snakemake, with a second run in the same folder."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stardomain.locks import hold

from conftest import REPO, snakemake, tiny_config
from helpers import unit_job

# trains one regular model as the workflow's adapter does, its log in argv[3]
TRAIN = """
import json, sys
from stardomain.joblog import job
with job(sys.argv[3]):
    from stardomain.jobs import RegularJob
    from stardomain.stages.train import run_train_regular
    job = RegularJob.from_params(json.loads(sys.argv[2]), {}, experiment="unit")
    run_train_regular(sys.argv[1], job, "cpu", store=sys.argv[4])
"""


def wait_for(condition, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def start_training(out: Path, log: Path, store: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    args = [str(out), json.dumps(unit_job(0).params()), str(log), str(store)]
    return subprocess.Popen([sys.executable, "-c", TRAIN, *args], env=env)


def test_hold_is_reentrant_and_leaves_no_lock_file(tmp_path: Path):
    out = tmp_path / "results/0.pt"
    with hold(out):
        assert (tmp_path / "results/0.pt.lock").read_text().startswith(f"pid {os.getpid()} on ")
        with hold(out):  # a stage calling another stage on the same output
            pass
        assert (tmp_path / "results/0.pt.lock").exists()
    assert list((tmp_path / "results").iterdir()) == []


def test_a_job_waits_while_another_process_holds_its_output(tmp_path: Path):
    out, log, store = tmp_path / "0.pt", tmp_path / "0.log", tmp_path / "store"
    fd = os.open(f"{out}.lock", os.O_RDWR | os.O_CREAT, 0o666)
    fcntl.flock(fd, fcntl.LOCK_EX)  # another run's job, writing 0.pt
    os.write(fd, b"pid 1 on node7 since 2025-01-01 00:00:00")
    job = start_training(out, log, store)
    try:
        wait_for(lambda: log.exists() and "waiting for" in log.read_text(), "the wait line", 60)
        time.sleep(1.0)
        assert job.poll() is None  # still waiting: it has written nothing
        assert not out.exists() and not Path(f"{out}.resume").exists()
        assert f"{out}.lock: waiting for pid 1 on node7 since 2025-01-01 00:00:00" in (
            log.read_text()
        )
    finally:
        os.unlink(f"{out}.lock")  # the holder removes the file, then releases it
        os.close(fd)
    assert job.wait(timeout=120) == 0
    assert "unit/regular-0 epoch 2/2" in log.read_text()  # then it trained, alone


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_a_second_snakemake_run_waits_and_restores_instead_of_training_again(tmp_path: Path):
    """Real Snakemake, a second run in the same folder while the first trains (`--nolock`: what
    Snakemake allows once any run there has ended and removed its lock directory)."""
    config = tiny_config()
    config["experiments"]["tiny"]["train"]["epochs"] = (
        600  # ~10 s of training: time for a second run to start
    )
    target = "results/tiny/regular/0.pt"
    first = subprocess.Popen(
        [sys.executable, "-c", "import conftest, sys, pathlib, json; "
         "conftest.snakemake(pathlib.Path(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3])",
         str(tmp_path), json.dumps(config), target],
        cwd=REPO / "tests", env=dict(os.environ, PYTHONPATH=str(REPO / "tests")),
    )  # fmt: skip
    lock = tmp_path / f"{target}.lock"
    wait_for((tmp_path / f"{target}.resume").exists, "the first run's first epoch")
    second = snakemake(tmp_path, config, target, "--nolock")
    assert first.wait(timeout=600) == 0
    log = (tmp_path / "logs/tiny/regular/0.log").read_text(errors="replace")
    assert f"{lock.resolve()}: waiting for pid " in log, log[-3000:]
    assert "restored from store" in log, log[-3000:]  # the second run did not train it again
    assert "resuming" not in log
    (entry,) = (tmp_path / "store").rglob("*.pt")
    assert sha256(tmp_path / target) == sha256(entry)
    assert "1 of 1 steps (100%) done" in second.stdout + second.stderr
