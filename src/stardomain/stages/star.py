"""Stage of workflow/rules/star.smk: one star model by Starlight (docs/method.md, "Starlight")."""

from __future__ import annotations

from stardomain import io
from stardomain.data import load_data
from stardomain.locks import holding
from stardomain.models import model_spec
from stardomain.perm import fraction_moved
from stardomain.provenance import job_provenance
from stardomain.resume import ResumeFile
from stardomain.stages.common import arch_of, load_state, new_model, reporter, resolve_device
from stardomain.starlight import train_star
from stardomain.store import ModelStore


@holding("out")  # one job at a time writes the model and its side file (stardomain.locks)
def run_train_star(
    out: str,
    anchor_paths: list[str],
    settings: dict,
    device: str,
    *,
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
    anchors = [  # each file must be the anchor the star names (its provenance)
        load_state(p, arch, device, f"{settings['experiment']}/regular-{seed}")
        for p, seed in zip(anchor_paths, star["anchors"], strict=True)
    ]
    model = new_model(settings["model"], data, star["seed"], device)
    resume = ResumeFile.beside(out, provenance)  # a restarted job continues where it was stopped
    print(f"{len(anchors)} anchors, re-aligned {max(1, min(workers, len(anchors)))} at a time")
    label = f"{settings['experiment']}/star-{settings['name']}"
    report = reporter(label, settings, "star", star["epochs"], tracker)
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
