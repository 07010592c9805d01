"""Resumable training: a job stopped mid-way and restarted ends with the weights of an unbroken run.

The SIGTERM test kills a real training process (as SLURM does at a time limit) after a few epochs,
restarts the same stage in this process and compares the final model file bitwise with an
uninterrupted run. The Starlight tests interrupt in-process after two epochs (an exception raised by
the progress hook, as a kill between epochs would) and compare bitwise too.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from stardomain import io
from stardomain.data import load_data
from stardomain.design import Pair
from stardomain.jobs import CurveJob, RegularJob
from stardomain.models import build_model, model_spec
from stardomain.precision import Precision
from stardomain.resume import ResumeFile
from stardomain.settings import AlignSettings, DataSettings, ModelSettings, Recipe, StarSettings
from stardomain.stages.train import run_train_regular
from stardomain.starlight import train_star
from stardomain.train import train_regular

from conftest import REPO
from helpers import Interrupt, stop_after, tiny_experiment


def regular_job(exp: dict, seed: int = 0) -> RegularJob:
    return RegularJob.of("tiny", exp, seed)


# A script that trains as the workflow's adapter does (inside `job`, which turns SIGTERM into exit).
TRAIN = """
import json, sys
from stardomain.jobs import RegularJob
from stardomain.joblog import job
from stardomain.stages.train import run_train_regular
out, log, params = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
with job(log, 1) as progress:
    run_train_regular(out, RegularJob.from_params(params, {}, experiment="tiny"), "cpu", progress=progress)
"""


@pytest.mark.slow
def test_sigterm_then_restart_resumes_at_next_epoch_with_identical_weights(tmp_path):
    torch.set_num_threads(1)  # the killed process runs single-threaded too (job(log, 1))
    settings = regular_job(tiny_experiment(train={"epochs": 150, "batch_size": 128}))
    out = tmp_path / "killed.pt"
    side = Path(f"{out}.resume")
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    cmd = [
        sys.executable,
        "-c",
        TRAIN,
        str(out),
        str(tmp_path / "killed.log"),
        json.dumps(settings.params()),
    ]
    proc = subprocess.Popen(cmd, env=env)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if side.exists() and torch.load(side, weights_only=True)["epoch"] >= 3:
                break
            time.sleep(0.01)
        assert proc.poll() is None, "training ended before it could be killed mid-way"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 143  # SIGTERM became SystemExit(143): clean unwind
    finally:
        proc.kill()
    stopped = torch.load(side, weights_only=True)["epoch"]
    assert 3 <= stopped < 150 and not out.exists()
    assert not list(tmp_path.glob(".*.tmp")), "a killed write left its temporary file behind"

    seen: list[int] = []

    def record(epochs, desc=None):
        seen.extend(epochs)
        return seen

    run_train_regular(str(out), settings, "cpu", progress=record)
    assert seen[0] == stopped and seen[-1] == 149  # the restart resumed at the next epoch
    assert not side.exists()  # removed once the model file is written

    run_train_regular(str(tmp_path / "unbroken.pt"), settings, "cpu")
    resumed, unbroken = io.load_model(out), io.load_model(tmp_path / "unbroken.pt")
    max_diff = max(
        (resumed["state"][k] - v).abs().max().item() for k, v in unbroken["state"].items()
    )
    print(f"killed at epoch {stopped} of 150, resumed; max |w_resumed - w_unbroken| = {max_diff}")
    assert max_diff == 0.0
    assert resumed["metrics"] == unbroken["metrics"]  # the full per-epoch history survived too


def test_side_file_of_other_settings_is_ignored(tmp_path):
    exp = tiny_experiment(train={"epochs": 3})
    data = load_data(DataSettings.of(exp["data"]))
    key_a, key_b = dict(seed=0, lr=0.05), dict(seed=0, lr=0.1)

    def fit(key, progress=None):
        model = build_model(ModelSettings.of(exp["model"]), data.in_shape, data.num_classes, 0)
        resume = ResumeFile.beside(tmp_path / "m.pt", key)
        train_regular(model, data, Recipe.of(exp["train"]), 0, progress=progress, resume=resume)
        return model

    with pytest.raises(Interrupt):
        fit(key_a, stop_after(2, []))  # leaves a side file at epoch 2 for key_a
    seen: list[int] = []
    fit(key_b, stop_after(99, seen))
    assert seen == [0, 1, 2]  # another run's state is never resumed


class MovingScale(Precision):
    """fp16 whose loss scale grows every 3 steps (not 2000): it soon overflows, skips steps and
    backs off, so a restart that lost the scaler's state would skip other steps."""

    def scaler(self) -> torch.amp.GradScaler:
        return torch.amp.GradScaler(self.device_type, growth_interval=3)


FP16 = MovingScale("cpu", torch.float16)  # refused on CPU in configs; here for the scaler's state


def test_fp16_training_resumes_bitwise_with_its_loss_scale(tmp_path):
    exp = tiny_experiment(model={"batchnorm": True}, train={"epochs": 4, "batch_size": 128})
    data = load_data(DataSettings.of(exp["data"]))

    def fit(name, progress=None):
        model = build_model(ModelSettings.of(exp["model"]), data.in_shape, data.num_classes, 0)
        resume = ResumeFile.beside(tmp_path / name, dict(amp="fp16"))
        args = (model, data, Recipe.of(exp["train"]), 0)
        history = train_regular(*args, progress=progress, resume=resume, precision=FP16)
        return model, history

    with pytest.raises(Interrupt):
        fit("m.pt", stop_after(2, []))
    scale = torch.load(tmp_path / "m.pt.resume", weights_only=True)["extra"]["scaler"]["scale"]
    assert scale != 2.0**16  # the scale moved from its start: a restart must not reset it
    seen: list[int] = []
    resumed, history_r = fit("m.pt", stop_after(99, seen))
    assert seen == [2, 3]
    unbroken, history_u = fit("u.pt")
    for k, v in unbroken.state_dict().items():
        assert torch.equal(resumed.state_dict()[k], v), k
    assert history_r == history_u


def star_setup(tmp_path, realign: str, precision: Precision | None = None):
    exp = tiny_experiment(model={"batchnorm": True}, train={"epochs": 2})
    data = load_data(DataSettings.of(exp["data"]))
    anchors = []
    for seed in (0, 1):
        model = build_model(ModelSettings.of(exp["model"]), data.in_shape, data.num_classes, seed)
        train_regular(model, data, Recipe.of(exp["train"]), seed)
        anchors.append({k: v.detach().clone() for k, v in model.state_dict().items()})
    star = StarSettings.of(
        dict(exp["stars"]["main"], anchors=(0, 1), epochs=4, realign=realign, seed=7)
    )

    def fit(progress=None):
        model = build_model(ModelSettings.of(exp["model"]), data.in_shape, data.num_classes, 7)
        resume = ResumeFile.beside(tmp_path / f"star-{realign}.pt", dict(star=star.params()))
        spec = model_spec(ModelSettings.of(exp["model"]), model, data.in_shape)
        recipe, align = Recipe.of(exp["train"]), AlignSettings.of(exp["align"])
        args = (model, anchors, spec, data, recipe, star, align)
        history, perms = train_star(*args, progress=progress, resume=resume, precision=precision)
        return model, history, perms

    return fit


@pytest.mark.parametrize(
    "realign,precision",
    [("every_epoch", None), ("once", None), ("never", None), ("every_epoch", FP16)],
)
def test_starlight_resumes_bitwise(tmp_path, realign, precision):
    fit = star_setup(tmp_path, realign, precision)
    with pytest.raises(Interrupt):
        fit(stop_after(2, []))
    if precision is not None:  # fp16: the loss scale moved, so restoring it matters
        side = torch.load(f"{tmp_path}/star-{realign}.pt.resume", weights_only=True)
        assert side["extra"]["scaler"]["scale"] != 2.0**16
    seen: list[int] = []
    resumed, history_r, perms_r = fit(stop_after(99, seen))
    assert seen == [2, 3]
    Path(f"{tmp_path}/star-{realign}.pt.resume").unlink()
    unbroken, history_u, perms_u = fit()
    for k, v in unbroken.state_dict().items():
        assert torch.equal(resumed.state_dict()[k], v), k
    assert history_r == history_u
    for p, q in zip(perms_r, perms_u, strict=True):
        assert all(torch.equal(p[k], q[k]) for k in q)


def test_curve_job_stopped_mid_curve_resumes_at_next_t(tmp_path):
    """A curve job (SLURM time limit) keeps its finished t; the resubmitted one evaluates the
    rest only, and writes the curve of an uninterrupted run, byte for byte."""
    from stardomain.stages.pairs import run_curve

    exp = tiny_experiment(train={"epochs": 2})
    exp["eval"]["grid"] = [0.0, 0.25, 0.5, 0.75, 1.0]
    for seed in (0, 1):
        run_train_regular(str(tmp_path / f"{seed}.pt"), regular_job(exp, seed), "cpu")
    settings = CurveJob.of(exp, permuted=False)
    pair = Pair("regular-regular", "naive", "regular-0", "regular-1")

    def curve(name, progress=None):
        out = tmp_path / f"{name}.csv"
        run_curve(str(out), str(tmp_path / f"{name}.barrier.csv"), str(tmp_path / "0.pt"),
                  str(tmp_path / "1.pt"), settings, "tiny", pair, "cpu", progress=progress)  # fmt: skip
        return out

    stopped: list[float] = []
    with pytest.raises(Interrupt):
        curve("stopped", stop_after(3, stopped))
    assert stopped == [0.0, 0.25, 0.5]
    assert not (tmp_path / "stopped.csv").exists()
    seen: list[float] = []
    out = curve("stopped", lambda ts, desc=None: seen.extend(ts) or ts)
    assert seen == [0.75, 1.0]  # only the points the stopped job had not finished
    assert not Path(f"{out}.resume").exists()
    assert out.read_text() == curve("unbroken").read_text()
    assert (tmp_path / "stopped.barrier.csv").read_text() == (
        tmp_path / "unbroken.barrier.csv"
    ).read_text()
