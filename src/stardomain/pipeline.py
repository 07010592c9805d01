"""One function per workflow stage, from input files to output files.

The workflow scripts only unpack Snakemake's objects and call these; everything here takes explicit
paths and settings, so a stage can be rerun from a notebook or a test without Snakemake.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import torch
from tqdm import tqdm

from stardomain import barrier, io
from stardomain.data import Data, load_data
from stardomain.evaluate import reestimate_bn
from stardomain.models import build_model, model_spec
from stardomain.perm import apply_permutation, fraction_moved, weight_matching
from stardomain.perm.rebasin import rebasin_align, units_moved
from stardomain.provenance import job_provenance
from stardomain.resume import PointsFile, ResumeFile
from stardomain.starlight import train_star
from stardomain.store import ModelStore, file_digest
from stardomain.tracking import (
    EpochReporter,
    device_report,
    expected_gpu,
    open_tracker,
)
from stardomain.train import train_regular


def resolve_device(device: str | torch.device) -> torch.device:
    """`auto` -> CUDA if available, else CPU; anything else is passed to `torch.device`.

    Prints the device line of the job's log (stardomain.tracking.device_report: a loud warning
    when `auto` falls back to the CPU on a job given a GPU). A CUDA device that torch cannot see
    (a CPU-only build, no GPU on the node) is an error, never a silent CPU run. An already
    resolved `torch.device` is returned as it is.
    """
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        resolved = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        resolved = torch.device(device)
        if resolved.type == "cuda" and not torch.cuda.is_available():
            gpu = expected_gpu() or "no GPU variable set"
            raise RuntimeError(
                f"device: {device!r}, but torch sees no CUDA device (torch {torch.__version__}, "
                f"CUDA build {torch.version.cuda or 'none'}; {gpu}). Run on a GPU node with a "
                "CUDA build of torch (docs/slurm.md), or set device: auto or cpu"
            )
    print(device_report(device, resolved), flush=True)
    return resolved


def _exit_on_sigterm(signum, frame):
    # SLURM stops a job (time limit, preemption, scancel) with SIGTERM: unwind like an exception so
    # that `atomic_path` removes its temporary file and the log is flushed; exit status 128 + 15.
    sys.exit(143)


@contextlib.contextmanager
def job(log_path: str, threads: int = 1) -> Iterator[partial]:
    """Send stdout/stderr (tqdm included) to `log_path`, pin torch threads; yields a progress bar.

    Inside the block SIGTERM raises SystemExit (in the main thread, where Python delivers signals).
    """
    torch.set_num_threads(max(1, threads))
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm) if main else None
    try:
        with (
            open(log_path, "w") as log,
            contextlib.redirect_stdout(log),
            contextlib.redirect_stderr(log),
        ):
            yield partial(tqdm, file=log, mininterval=5.0, ascii=True)
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)


def arch_of(model_cfg: dict, data: Data) -> dict:
    """What a model file must match to be loaded: model config, input shape, classes."""
    return dict(model=model_cfg, in_shape=list(data.in_shape), num_classes=data.num_classes)


def _model(model_cfg: dict, data: Data, seed: int, device) -> torch.nn.Module:
    return build_model(model_cfg, data.in_shape, data.num_classes, seed).to(device)


def _state(path: str, arch: dict, device) -> dict[str, torch.Tensor]:
    return {k: v.to(device) for k, v in io.load_model(path, arch)["state"].items()}


def run_train_regular(
    out: str,
    settings: dict,
    seed: int,
    device: str,
    progress=None,
    store: str | None = None,
    tracker: dict | None = None,
) -> None:
    """Train one regular model from `seed`; settings = {experiment, data, model, train}.

    `store`: the model store's folder (None: off); a model stored for the same provenance
    (stardomain.provenance: tracked settings, factory source, numerics version) is restored
    instead of trained, and a trained one is stored (stardomain.store).
    `tracker`: the config's `tracker` (None: off; stardomain.tracking).
    """
    provenance = job_provenance(settings, seed=seed, role="regular")
    models = ModelStore.open(store)
    key = models and models.key(provenance)
    if models and models.restore(key, out):
        return
    device = resolve_device(device)
    data = load_data(settings["data"], device)
    model = _model(settings["model"], data, seed, device)
    label = f"{settings['experiment']}/regular-{seed}"
    resume = ResumeFile.beside(out, provenance)  # a restarted job continues where it was stopped
    report = _reporter(label, settings, "regular", settings["train"]["epochs"], tracker)
    history = train_regular(
        model, data, settings["train"], seed, label, progress, resume, on_epoch=report
    )
    report.finish()
    io.save_model(out, model.state_dict(), arch_of(settings["model"], data), provenance, history)
    resume.remove()
    if models:
        models.keep(key, out)


def _reporter(label: str, settings: dict, role: str, epochs: int, tracker: dict | None):
    """The per-epoch log lines of a training job, and its tracker run (config `tracker`)."""
    run = open_tracker(tracker, label, settings["experiment"], role, settings, "logs")
    return EpochReporter(label, epochs, run)


def run_train_star(
    out: str,
    anchor_paths: list[str],
    settings: dict,
    device: str,
    progress=None,
    store: str | None = None,
    workers: int = 1,
    tracker: dict | None = None,
) -> None:
    """Starlight for one star; settings = {experiment, name, data, model, train, star, align}.

    `store`, `tracker` as in `run_train_regular`; a star's key also digests its anchors' bytes.
    `workers`: anchors re-aligned at once (the job's CPU threads); the star does not depend on it.
    """
    star = settings["star"]
    provenance = job_provenance(settings, seed=star["seed"], role="star", anchors=anchor_paths)
    models = ModelStore.open(store)
    key = models and models.key(provenance, anchor_paths)  # digests the anchors' bytes
    if models and models.restore(key, out):
        return
    device = resolve_device(device)
    data = load_data(settings["data"], device)
    arch = arch_of(settings["model"], data)
    anchors = [_state(p, arch, device) for p in anchor_paths]
    model = _model(settings["model"], data, star["seed"], device)
    resume = ResumeFile.beside(out, provenance)  # a restarted job continues where it was stopped
    print(f"{len(anchors)} anchors, re-aligned {max(1, min(workers, len(anchors)))} at a time")
    label = f"{settings['experiment']}/star-{settings['name']}"
    report = _reporter(label, settings, "star", star["epochs"], tracker)
    history, perms = train_star(
        model,
        anchors,
        model_spec(settings["model"], model, data.in_shape),
        data,
        settings["train"],
        star,
        settings["align"],
        seed=star["seed"],
        label=label,
        progress=progress,
        resume=resume,
        workers=workers,
        on_epoch=report,
    )
    report.finish()
    moved = [fraction_moved(p) for p in perms]
    metrics = dict(history=history, anchor_fraction_moved=moved)
    io.save_model(out, model.state_dict(), arch, provenance, metrics)
    resume.remove()
    if models:
        models.keep(key, out)


def run_align(
    out: str,
    target_path: str,
    source_path: str,
    settings: dict,
    device: str,
    probe: int = 256,
    data: Data | None = None,
) -> None:
    """Match model `source` onto `target` with `align.matcher`; store the result and sanity figures.

    weight_matching stores a permutation; rebasin (which permutes a model in place and leaves BN
    statistics stale) stores the permuted source state after re-estimating its BN statistics with
    one pass of the augmented training loader (train mode), as the paper's authors did (their
    find_barriers.py). Sanity figures: max |f_perm(x) - f(x)| in eval
    mode over `probe` test images (float round-off for a correct matcher), the fraction of hidden
    units moved, and the matching time. `data`: the loaded `settings["data"]` (None: load it).
    """
    align = settings["align"]
    device = resolve_device(device)
    data = load_data(settings["data"], device) if data is None else data
    arch = arch_of(settings["model"], data)
    target, source = _state(target_path, arch, device), _state(source_path, arch, device)
    model = _model(settings["model"], data, 0, device).eval()
    spec = model_spec(settings["model"], model, data.in_shape)
    x = data.sample("test", probe)
    start = time.perf_counter()
    if align["matcher"] == "rebasin":
        moved_model = _model(settings["model"], data, 0, device)
        moved_model.load_state_dict(source)
        model.load_state_dict(target)
        rebasin_align(model, moved_model, x[:2], align["max_iter"])
        seconds = time.perf_counter() - start
        bn = data.batches(
            "train", align["bn_batch_size"], shuffle=True, seed=align["seed"], augment=True
        )
        reestimate_bn(moved_model, bn)
        moved = {k: v.detach() for k, v in moved_model.state_dict().items()}
        perm, fraction = {}, units_moved(spec, source, moved)
    else:
        perm = weight_matching(spec, target, source, seed=align["seed"], max_iter=align["max_iter"])
        seconds = time.perf_counter() - start
        moved, fraction = apply_permutation(spec, perm, source), fraction_moved(perm)
    with torch.no_grad():
        model.load_state_dict(source)
        before = model(x)
        model.load_state_dict(moved)
        after = model(x)
    info = dict(
        matcher=align["matcher"],
        seed=align["seed"],
        target=target_path,
        source=source_path,
        seconds=seconds,
        fraction_moved=fraction,
        max_abs_output_change=float((after - before).abs().max()),
    )
    state = moved if align["matcher"] == "rebasin" else None
    io.save_perm(out, {k: v.cpu() for k, v in perm.items()}, info, state)


def run_curve(
    out_curve: str,
    out_barrier: str,
    a_path: str,
    b_path: str,
    perm_path: str | None,
    settings: dict,
    pair: dict,
    device: str,
    progress=None,
    data: Data | None = None,
) -> None:
    """Interpolate a -> b (b permuted onto a when `perm_path` is given); write curve and barrier row.

    settings = {data, model, eval}; pair = {experiment, kind, alignment, a, b} (copied into rows);
    `data`: the loaded `settings["data"]` (None: load it).
    """
    import pandas as pd

    device = resolve_device(device)
    data = load_data(settings["data"], device) if data is None else data
    arch = arch_of(settings["model"], data)
    state_a, state_b = _state(a_path, arch, device), _state(b_path, arch, device)
    row = dict(pair, matcher="none", fraction_moved=0.0, max_abs_output_change=0.0)
    if perm_path is not None:
        perm = io.load_perm(perm_path)
        if perm.get("state") is not None:  # a matcher that stores the moved model (rebasin)
            state_b = {k: v.to(device) for k, v in perm["state"].items()}
        else:
            model = _model(settings["model"], data, 0, device)
            spec = model_spec(settings["model"], model, data.in_shape)
            state_b = apply_permutation(spec, perm["perm"], state_b)
        row.update(
            {k: perm["info"][k] for k in ("matcher", "fraction_moved", "max_abs_output_change")}
        )
    ev = settings["eval"]
    model = _model(settings["model"], data, 0, device)
    inputs = [p for p in (a_path, b_path, perm_path) if p is not None]
    key = dict(settings=settings, pair=pair, sha256=[file_digest(p) for p in inputs])
    resume = PointsFile.beside(out_curve, key)  # a restarted job continues at the next t
    rows = barrier.curve(
        model,
        state_a,
        state_b,
        ev["grid"],
        data,
        ev["batch_size"],
        ev["bn_batch_size"],
        ev["bn_batches"],
        seed=ev["seed"],
        progress=progress,
        resume=resume,
        train_subset=ev.get("train_subset"),
        test_subset=ev.get("test_subset"),
    )
    curve_df = pd.DataFrame([{**pair, **r} for r in rows])
    barrier_df = pd.DataFrame([{**row, **barrier.barriers(rows)}])
    with io.atomic_path(out_curve) as tmp:
        curve_df.to_csv(tmp, index=False)
    with io.atomic_path(out_barrier) as tmp:
        barrier_df.to_csv(tmp, index=False)
    resume.remove()


def run_align_interpolate(
    out_perm: str,
    out_curve: str,
    out_barrier: str,
    a_path: str,
    b_path: str,
    settings: dict,
    pair: dict,
    device: str,
    progress=None,
) -> None:
    """A permuted pair: `run_align` (b onto a), then `run_curve` with that permutation.

    settings = {data, model, align, eval}; pair as in `run_curve`. The data set is loaded once.
    """
    device = resolve_device(device)
    data = load_data(settings["data"], device)
    run_align(out_perm, a_path, b_path, settings, device, data=data)
    run_curve(
        out_curve, out_barrier, a_path, b_path, out_perm, settings, pair, device, progress, data
    )


def concat_csvs(paths: list[str], out: str) -> None:
    """Concatenate CSV files with equal columns into `out` (atomically)."""
    import pandas as pd

    df = pd.concat([pd.read_csv(p) for p in paths], ignore_index=True)
    with io.atomic_path(out) as tmp:
        df.to_csv(tmp, index=False)
