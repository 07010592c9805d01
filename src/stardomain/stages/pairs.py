"""Stages of workflow/rules/pairs.smk: align a pair, its interpolation curve and barrier, and the
experiment's CSVs of all pairs (docs/method.md, "Barriers"; docs/alignment.md)."""

from __future__ import annotations

import time
from collections.abc import Mapping

import pandas as pd
import torch

from stardomain import barrier, io
from stardomain.data import Data, load_data
from stardomain.design import Pair
from stardomain.evaluate import reestimate_bn
from stardomain.jobs import CurveJob
from stardomain.locks import holding
from stardomain.models import model_spec
from stardomain.perm import apply_permutation, fraction_moved, weight_matching
from stardomain.perm.rebasin import rebasin_align, units_moved
from stardomain.resume import PointsFile
from stardomain.stages.common import arch_of, load_state, new_model, resolve_device
from stardomain.store import file_digest


def run_align(
    out: str,
    target_path: str,
    source_path: str,
    job: CurveJob,
    device: str,
    *,
    probe: int = 256,
    data: Data | None = None,
) -> None:
    """Match model `source` onto `target` with `job.align`; store the result and sanity figures.

    weight_matching stores a permutation; rebasin (which permutes a model in place and leaves BN
    statistics stale) stores the permuted source state after re-estimating its BN statistics with
    one pass of the augmented training loader (train mode), as the paper's authors did (their
    find_barriers.py). Sanity figures: max |f_perm(x) - f(x)| in eval
    mode over `probe` test images (float round-off for a correct matcher), the fraction of hidden
    units moved, and the matching time. `data`: the loaded `job.data` (None: load it).
    """
    align = job.align
    device = resolve_device(device)
    data = load_data(job.data, device) if data is None else data
    arch = arch_of(job.model, data)
    target, source = load_state(target_path, arch, device), load_state(source_path, arch, device)
    model = new_model(job.model, data, 0, device).eval()
    spec = model_spec(job.model, model, data.in_shape)
    x = data.sample("test", probe)
    start = time.perf_counter()
    if align.matcher == "rebasin":
        moved_model = new_model(job.model, data, 0, device)
        moved_model.load_state_dict(source)
        model.load_state_dict(target)
        rebasin_align(model, moved_model, x[:2], align.max_iter)
        seconds = time.perf_counter() - start
        bn = data.batches("train", align.bn_batch_size, shuffle=True, seed=align.seed, augment=True)
        reestimate_bn(moved_model, bn)
        moved = {k: v.detach() for k, v in moved_model.state_dict().items()}
        perm, fraction = {}, units_moved(spec, source, moved)
    else:
        perm = weight_matching(spec, target, source, seed=align.seed, max_iter=align.max_iter)
        seconds = time.perf_counter() - start
        moved, fraction = apply_permutation(spec, perm, source), fraction_moved(perm)
    with torch.no_grad():
        model.load_state_dict(source)
        before = model(x)
        model.load_state_dict(moved)
        after = model(x)
    info = dict(
        matcher=align.matcher,
        seed=align.seed,
        target=target_path,
        source=source_path,
        seconds=seconds,
        fraction_moved=fraction,
        max_abs_output_change=float((after - before).abs().max()),
    )
    state = moved if align.matcher == "rebasin" else None
    io.save_perm(out, {k: v.cpu() for k, v in perm.items()}, info, state)


@holding("out_curve")  # one job at a time writes the curve and its side file
def run_curve(
    out_curve: str,
    out_barrier: str,
    a_path: str,
    b_path: str,
    job: CurveJob,
    experiment: str,
    pair: Pair,
    device: str,
    *,
    perm_path: str | None = None,
    progress=None,
    data: Data | None = None,
    made_with: Mapping[str, dict] | None = None,
) -> None:
    """Interpolate a -> b (b permuted onto a when `perm_path` is given); write curve and barrier row.

    `experiment` and `pair` (kind, alignment, a, b) are copied into the rows; `data`: the loaded
    `job.data` (None: load it); `made_with`: model id -> the settings its file must have been made
    with (stardomain.jobs.made_with; a model not in it is checked by its id only).
    """
    device = resolve_device(device)
    data = load_data(job.data, device) if data is None else data
    arch = arch_of(job.model, data)
    # each file must be the model the pair names (its provenance: io.load_model)
    made_with = made_with or {}
    state_a = load_state(a_path, arch, device, pair.a, made_with.get(pair.a))
    state_b = load_state(b_path, arch, device, pair.b, made_with.get(pair.b))
    pair_row = dict(
        experiment=experiment,
        kind=pair.kind,
        alignment=pair.alignment,
        a=pair.a,
        b=pair.b,
        recipe_a=pair.recipe_a,  # which recipe each side was trained with (design.recipe_of)
        recipe_b=pair.recipe_b,
    )
    row = dict(pair_row, matcher="none", fraction_moved=0.0, max_abs_output_change=0.0)
    model = new_model(job.model, data, 0, device)  # evaluation loads every state into it
    if perm_path is not None:
        perm = io.load_perm(perm_path)
        if perm.get("state") is not None:  # a matcher that stores the moved model (rebasin)
            state_b = {k: v.to(device) for k, v in perm["state"].items()}
        else:
            spec = model_spec(job.model, model, data.in_shape)
            state_b = apply_permutation(spec, perm["perm"], state_b)
        row.update(
            {k: perm["info"][k] for k in ("matcher", "fraction_moved", "max_abs_output_change")}
        )
    inputs = [p for p in (a_path, b_path, perm_path) if p is not None]
    key = dict(settings=job.params(), pair=pair_row, sha256=[file_digest(p) for p in inputs])
    resume = PointsFile.beside(out_curve, key)  # a restarted job continues at the next t
    rows = barrier.curve(
        model, state_a, state_b, data, job.evaluation, progress=progress, resume=resume
    )
    curve_df = pd.DataFrame([{**pair_row, **r} for r in rows])
    barrier_df = pd.DataFrame([{**row, **barrier.barriers(rows)}])
    with io.atomic_path(out_curve) as tmp:
        curve_df.to_csv(tmp, index=False)
    with io.atomic_path(out_barrier) as tmp:
        barrier_df.to_csv(tmp, index=False)
    resume.remove()


@holding("out_curve")  # as run_curve, from before the alignment
def run_align_interpolate(
    a_path: str,
    b_path: str,
    out_perm: str,
    out_curve: str,
    out_barrier: str,
    job: CurveJob,
    experiment: str,
    pair: Pair,
    device: str,
    *,
    progress=None,
    made_with: Mapping[str, dict] | None = None,
) -> None:
    """A permuted pair: `run_align` (b onto a), then `run_curve` with that permutation.

    `experiment`, `pair`, `made_with` as in `run_curve`. The data set is loaded once.
    """
    for path, model_id in ((a_path, pair.a), (b_path, pair.b)):  # before aligning them
        io.load_model(path, model=model_id, made_with=(made_with or {}).get(model_id))
    device = resolve_device(device)
    data = load_data(job.data, device)
    run_align(out_perm, a_path, b_path, job, device, data=data)
    run_curve(
        out_curve,
        out_barrier,
        a_path,
        b_path,
        job,
        experiment,
        pair,
        device,
        perm_path=out_perm,
        progress=progress,
        data=data,
        made_with=made_with,
    )


def concat_csvs(paths: list[str], out: str) -> None:
    """Concatenate CSV files with equal columns into `out` (atomically)."""
    df = pd.concat([pd.read_csv(p) for p in paths], ignore_index=True)
    with io.atomic_path(out) as tmp:
        df.to_csv(tmp, index=False)
