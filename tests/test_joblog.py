"""A failed job's log ends with its traceback (stardomain.joblog), whatever fails: the stage, an
import inside the script, a setting the script reads; and through real Snakemake, the log that
Snakemake points to holds it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from stardomain.joblog import job

from conftest import tiny_config


def last_lines(path: Path, n: int) -> list[str]:
    return path.read_text().rstrip("\n").splitlines()[-n:]


def test_an_exception_in_the_block_ends_the_log_with_its_traceback(tmp_path: Path):
    log = tmp_path / "logs/x.log"
    with pytest.raises(KeyError), job(str(log)):
        print("device: cpu")
        {}["data_root"]  # a setting the script reads, missing
    text = log.read_text()
    assert text.startswith("device: cpu\nTraceback (most recent call last):\n")
    assert last_lines(log, 1) == ["KeyError: 'data_root'"]


def test_a_failing_import_inside_the_block_is_logged(tmp_path: Path, monkeypatch):
    log = tmp_path / "x.log"
    monkeypatch.setitem(sys.modules, "stardomain_missing_helper", None)  # import raises
    with pytest.raises(ImportError), job(str(log)):
        import stardomain_missing_helper  # noqa: F401
    assert "Traceback (most recent call last):" in log.read_text()
    assert last_lines(log, 1)[0].startswith("ModuleNotFoundError: import of ")


def test_a_successful_job_logs_no_traceback(tmp_path: Path):
    log = tmp_path / "x.log"
    with job(str(log)):
        print("done")
    assert log.read_text() == "done\n"


FACTORY = """def net(num_classes, in_shape):
    raise ValueError("width must be a multiple of 8 (mylab_broken.net)")
"""


@pytest.mark.slow
def test_a_factory_that_raises_ends_the_jobs_log_with_the_traceback(tmp_path: Path, run_snakemake):
    """Real Snakemake: the log Snakemake names for the failed job ends with the traceback."""
    package = tmp_path / "userpkg"
    package.mkdir()
    (package / "mylab_broken.py").write_text(FACTORY)
    config = tiny_config()
    config["experiments"]["tiny"]["model"] = {"name": "mylab_broken:net"}
    work = tmp_path / "work"
    target = "results/tiny/regular/0.pt"
    proc = run_snakemake(work, config, target, check=False, pythonpath=[package])
    assert proc.returncode != 0
    assert "logs/tiny/regular/0.log" in proc.stdout + proc.stderr  # where Snakemake points to
    log = work / "logs/tiny/regular/0.log"
    text = log.read_text()
    assert text.startswith("device: cpu"), text[:300]
    assert "Traceback (most recent call last):" in text
    assert 'mylab_broken.py", line 2, in net' in text
    assert last_lines(log, 1) == ["ValueError: width must be a multiple of 8 (mylab_broken.net)"], (
        text[-2000:]
    )
