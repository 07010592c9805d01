"""Stage of workflow/rules/ensemble.smk: the star vs a single model, a deep ensemble and BMA over its
star domain (`stardomain.ensemble.compare`), from model files to one CSV."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from stardomain import io
from stardomain.data import load_data
from stardomain.ensemble import State, compare
from stardomain.jobs import EnsembleJob
from stardomain.models import model_spec
from stardomain.stages.common import arch_of, load_state, new_model, resolve_device


def run_ensemble(
    out_csv: str,
    heldout: dict[str, str],
    stars: dict[str, str],
    anchors: dict[str, list[str]],
    paths: dict[str, str],
    job: EnsembleJob,
    device: str,
    made_with: Mapping[str, dict] | None = None,
) -> None:
    """heldout/stars map model ids to files, anchors maps a star id to its anchor ids, and `paths`
    maps every anchor id to its file; `made_with`: model id -> the settings its file must have
    been made with (stardomain.jobs.made_with). Writes one CSV row per evaluation.
    """
    device = resolve_device(device)
    data = load_data(job.data, device)
    arch = arch_of(job.model, data)
    made_with = made_with or {}

    def load(path: str, model_id: str) -> State:  # refuses a file that is not that model
        return load_state(path, arch, device, model_id, made_with.get(model_id))

    model = new_model(job.model, data, 0, device)
    star_states = {
        sid: (load(path, sid), {a: load(paths[a], a) for a in anchors[sid]})
        for sid, path in stars.items()
    }
    rows = compare(
        model,
        model_spec(job.model, model, data.in_shape),
        data,
        {r: load(p, r) for r, p in heldout.items()},
        star_states,
        evaluation=job.evaluation,
        align=job.align,
        ensemble=job.ensemble,
    )
    table = pd.DataFrame([{"experiment": job.experiment, **r} for r in rows])
    with io.atomic_path(out_csv) as tmp:
        table.to_csv(tmp, index=False)
