"""Stage of workflow/rules/star.smk: one star model by Starlight (docs/method.md, "Starlight")."""

from __future__ import annotations

from stardomain import design, io
from stardomain.data import load_data
from stardomain.jobs import StarJob
from stardomain.locks import holding
from stardomain.models import model_spec
from stardomain.perm import fraction_moved
from stardomain.provenance import job_provenance
from stardomain.resume import ResumeFile
from stardomain.settings import TrackerSettings
from stardomain.stages.common import arch_of, load_state, new_model, reporter, resolve_device
from stardomain.starlight import train_star
from stardomain.store import ModelStore


@holding("out")  # one job at a time writes the model and its side file (stardomain.locks)
def run_train_star(
    out: str,
    anchor_paths: list[str],
    job: StarJob,
    device: str,
    *,
    progress=None,
    store: str | None = None,
    workers: int = 1,
    tracker: TrackerSettings | None = None,
) -> None:
    """Starlight for the star `job` describes, against the anchor files `anchor_paths`.

    `store`, `tracker` as in `run_train_regular`; a star's key also digests its anchors' bytes.
    `workers`: anchors re-aligned at once (the job's CPU threads); the star does not depend on it.
    """
    star = job.star
    provenance = job_provenance(job, role="star")
    models = ModelStore.open(store)
    key = models and models.key(provenance, anchor_paths)  # digests the anchors' bytes
    if models and models.restore(key, out):
        return
    device = resolve_device(device)
    data = load_data(job.data, device)
    arch = arch_of(job.model, data)
    anchors = [  # each file must be the anchor the star names, made with the star's recipe
        load_state(p, arch, device, design.regular_id(seed), job.anchor(seed).params())
        for p, seed in zip(anchor_paths, star.anchors, strict=True)
    ]
    model = new_model(job.model, data, star.seed, device)
    resume = ResumeFile.beside(out, provenance)  # a restarted job continues where it was stopped
    print(f"{len(anchors)} anchors, re-aligned {max(1, min(workers, len(anchors)))} at a time")
    label = f"{job.experiment}/star-{job.name}"
    report = reporter(label, job, "star", star.epochs, tracker)
    history, perms = train_star(
        model,
        anchors,
        model_spec(job.model, model, data.in_shape),
        data,
        recipe=job.recipe,
        star=star,
        align=job.align,
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
