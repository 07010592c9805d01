"""Stage of workflow/rules/train.smk: one regular model per seed (docs/method.md, "Regular models")."""

from __future__ import annotations

from stardomain import io
from stardomain.data import load_data
from stardomain.jobs import RegularJob
from stardomain.locks import holding
from stardomain.provenance import job_provenance
from stardomain.resume import ResumeFile
from stardomain.settings import TrackerSettings
from stardomain.stages.common import arch_of, new_model, reporter, resolve_device
from stardomain.store import ModelStore
from stardomain.train import train_regular


@holding("out")  # one job at a time writes the model and its side file (stardomain.locks)
def run_train_regular(
    out: str,
    job: RegularJob,
    device: str,
    *,
    progress=None,
    store: str | None = None,
    tracker: TrackerSettings | None = None,
) -> None:
    """Train the regular model `job` describes (its seed, data, model, recipe) into `out`.

    `store`: the model store's folder (None: off); a model stored for the same provenance
    (stardomain.provenance: the job's params, factory source, numerics version) is restored
    instead of trained, and a trained one is stored (stardomain.store).
    `tracker`: the config's `tracker` (None: off; stardomain.tracking).
    """
    provenance = job_provenance(job, role="regular")
    models = ModelStore.open(store)
    key = models and models.key(provenance)
    if models and models.restore(key, out):
        return
    device = resolve_device(device)
    data = load_data(job.data, device)
    model = new_model(job.model, data, job.seed, device)
    label = f"{job.experiment}/regular-{job.seed}"
    resume = ResumeFile.beside(out, provenance)  # a restarted job continues where it was stopped
    report = reporter(label, job, "regular", job.recipe.epochs, tracker)
    history = train_regular(
        model, data, job.recipe, job.seed, label, progress, resume, on_epoch=report
    )
    report.finish()
    io.save_model(out, model.state_dict(), arch_of(job.model, data), provenance, history)
    resume.remove()
    if models:
        models.keep(key, out)
