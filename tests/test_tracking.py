"""What a training job reports: the device at start (loudly when `device: auto` falls back to the
CPU on a job given a GPU; `device: cuda` without one is an error), one log line per epoch (loss,
accuracy, lr, images/s), a metrics CSV beside every model (restored ones too), and the optional
W&B tracker in offline mode.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch

from stardomain import io
from stardomain.stages.common import resolve_device
from stardomain.tracking import device_report, epoch_line, wandb_login_problem

from conftest import snakemake, tiny_config

# label, epoch, epochs, lr, loss name, loss, test loss, test accuracy (%), images/s
EPOCH = re.compile(
    r"^tiny/(regular-\d|star-main) epoch (\d+)/(\d+): lr ([\d.e+-]+), "
    r"(train_loss|train_loss_interpolated) ([\d.e+-]+), test_loss ([\d.e+-]+), "
    r"test_accuracy ([\d.]+) %, (\d+) images/s$",
    re.M,
)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine where torch sees no GPU")
def test_cpu_fallback_on_a_gpu_job_is_loud_and_device_cuda_fails(monkeypatch, capsys):
    for name in ("CUDA_VISIBLE_DEVICES", "SLURM_JOB_GPUS", "SLURM_STEP_GPUS", "SLURM_GPUS_ON_NODE"):
        monkeypatch.delenv(name, raising=False)
    assert "WARNING" not in device_report("auto", torch.device("cpu"))  # no GPU was expected
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")  # as SLURM sets it for a job with one GPU
    assert resolve_device("auto") == torch.device("cpu")
    log = capsys.readouterr().out
    assert log.startswith("device: cpu (CPU; config device: auto; torch ")
    assert "WARNING: device: auto fell back to the CPU" in log and "CUDA_VISIBLE_DEVICES=0" in log
    assert "WARNING" not in device_report("cpu", torch.device("cpu"))  # asked for the CPU
    with pytest.raises(RuntimeError, match=r"device: 'cuda', but torch sees no CUDA device"):
        resolve_device("cuda")


def test_epoch_line_names_every_metric():
    row = dict(epoch=2, lr=0.04, train_loss=0.51234, test_loss=0.6, test_accuracy=0.875)
    line = epoch_line("tiny/regular-0", 60, dict(row, images_per_s=1234.4))
    assert line == (
        "tiny/regular-0 epoch 3/60: lr 0.04, train_loss 0.5123, test_loss 0.6, "
        "test_accuracy 87.50 %, 1234 images/s"
    )


def history(model: Path) -> list[dict]:
    metrics = io.load_model(model)["metrics"]
    return metrics["history"] if isinstance(metrics, dict) else metrics


@pytest.mark.slow
def test_logs_and_metrics_csv_of_trained_and_restored_models(tmp_path: Path, run_snakemake):
    config = tiny_config()
    targets = ["results/tiny/star/main.metrics.csv", "results/tiny/regular/3.metrics.csv"]
    run_snakemake(tmp_path, config, *targets)
    for model, epochs in (("regular/0", 3), ("regular/3", 3), ("star/main", 2)):
        log = (tmp_path / f"logs/tiny/{model}.log").read_text()
        assert log.startswith("device: cpu (CPU; config device: auto;"), log[:300]
        lines = EPOCH.findall(log.replace("\r", "\n"))  # tqdm redraws its bar after "\r"
        assert [int(m[1]) for m in lines] == list(range(1, epochs + 1)), log
        assert all(int(m[2]) == epochs and int(m[8]) > 0 for m in lines), lines
        csv = pd.read_csv(tmp_path / f"results/tiny/{model}.metrics.csv")
        rows = history(tmp_path / f"results/tiny/{model}.pt")
        assert csv.to_dict("records") == rows  # the history of the model file, exactly
        # the log line shows the same numbers as the CSV (rounded)
        for m, row in zip(lines, rows, strict=True):
            assert float(m[3]) == pytest.approx(row["lr"], rel=1e-3)
            assert float(m[5]) == pytest.approx(row[m[4]], rel=1e-3)
            assert float(m[7]) == pytest.approx(100 * row["test_accuracy"], abs=0.006)
    trained = {p.name: p.read_text() for p in (tmp_path / "results/tiny").rglob("*.metrics.csv")}
    assert len(trained) == 4, sorted(trained)  # regular 0, 1 (the anchors), 3, and the star

    shutil.rmtree(tmp_path / "results")
    run_snakemake(tmp_path, config, *targets)
    assert "restored from store" in (tmp_path / "logs/tiny/star/main.log").read_text()
    restored = {p.name: p.read_text() for p in (tmp_path / "results/tiny").rglob("*.metrics.csv")}
    assert restored == trained


def wandb_history(path: Path) -> list[dict]:
    """The `history` records (logged metrics) of an offline W&B run file, in order.

    The file: a 7-byte header (":W&B", magic, version), then LevelDB-log framing: 32 KiB blocks
    of chunks, each a 7-byte header (crc32, length, type: 1 full, 2 first, 3 middle, 4 last) and
    its bytes; the chunks of one record join into a protobuf `Record`.
    """
    from wandb.proto import wandb_internal_pb2 as pb

    raw = path.read_bytes()
    assert raw[:4] == b":W&B", path
    pos, block, data, rows = 7, 32768, b"", []
    while pos + 7 <= len(raw):
        if block - pos % block < 7:  # a block's tail too short for a header is padding
            pos += block - pos % block
            continue
        length, kind = int.from_bytes(raw[pos + 4 : pos + 6], "little"), raw[pos + 6]
        if kind == 0:  # zero padding at the end of the file
            break
        data += raw[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):
            record = pb.Record()
            record.ParseFromString(data)
            data = b""
            if record.WhichOneof("record_type") == "history":
                items = record.history.item
                rows.append(
                    {i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in items}
                )
    return rows


@pytest.mark.slow
def test_wandb_tracker_offline_logs_every_epoch(tmp_path: Path, run_snakemake, monkeypatch):
    pytest.importorskip("wandb", reason="the wandb extra: pip install -e '.[wandb]'")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    config = tiny_config()
    config["tracker"] = {"name": "wandb", "project": "stardomain-test"}
    run_snakemake(tmp_path, config, "results/tiny/star/main.pt")
    runs = sorted((tmp_path / "logs/wandb").glob("offline-run-*/run-*.wandb"))
    assert len(runs) == 3  # 2 anchors and the star (held-out models are not needed)
    logged = {}
    for run in runs:
        rows = wandb_history(run)
        kind = "star" if "train_loss_interpolated" in rows[0] else "regular"
        logged.setdefault(kind, []).append(rows)
    star = history(tmp_path / "results/tiny/star/main.pt")
    (star_rows,) = logged["star"]
    assert [r["epoch"] for r in star_rows] == [0, 1]
    for got, want in zip(star_rows, star, strict=True):
        for key, value in want.items():
            assert got[key] == pytest.approx(value, rel=1e-12), key
        assert got["images_per_s"] > 0
    assert len(logged["regular"]) == 2 and all(len(r) == 3 for r in logged["regular"])
    anchors = [history(tmp_path / f"results/tiny/regular/{s}.pt") for s in (0, 1)]
    got = sorted(r[-1]["test_loss"] for r in logged["regular"])
    assert got == pytest.approx(sorted(h[-1]["test_loss"] for h in anchors), rel=1e-12)


def test_wandb_login_problem_reads_key_netrc_and_offline_mode(tmp_path: Path):
    home = {"HOME": str(tmp_path)}
    problem = wandb_login_problem(home)
    assert "no WANDB_API_KEY, no api.wandb.ai entry in " in problem and "WANDB_MODE" in problem
    assert wandb_login_problem({**home, "WANDB_MODE": "offline"}) is None
    assert wandb_login_problem({**home, "WANDB_API_KEY": "0123abcd"}) is None
    (tmp_path / ".netrc").write_text("machine api.wandb.ai\n  login user\n  password 0123abcd\n")
    assert wandb_login_problem(home) is None  # what `wandb login` writes
    assert "no wandb.lab.org entry" in wandb_login_problem(
        {**home, "WANDB_BASE_URL": "https://wandb.lab.org"}
    )


@pytest.mark.slow
def test_wandb_without_a_login_is_refused_before_the_first_job(tmp_path: Path, monkeypatch):
    """Real Snakemake (a run): tracker wandb, no API key, no ~/.netrc, not offline: the run stops
    before any job, naming the key, instead of failing inside every training job. A stand-in
    `wandb` module makes the package importable (its own check passes)."""
    for name in ("WANDB_API_KEY", "WANDB_MODE", "NETRC", "WANDB_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    stub = tmp_path / "stub"
    stub.mkdir()
    (stub / "wandb.py").write_text("")
    config = tiny_config()
    config["tracker"] = {"name": "wandb", "project": "stardomain-test"}
    work = tmp_path / "work"
    proc = snakemake(work, config, check=False, pythonpath=[stub], env={"HOME": str(tmp_path)})
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "tracker.name: 'wandb': W&B has no API key here" in out, out[-3000:]
    assert not (work / "logs").exists() and not (work / "results").exists()
