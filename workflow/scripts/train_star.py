"""Adapter: train one star model with Starlight (see stardomain.stages.star.run_train_star)."""

from stardomain.jobs import StarJob
from stardomain.settings import TrackerSettings
from stardomain.stages.common import job
from stardomain.stages.star import run_train_star
from stardomain.tracking import write_metrics_csv

experiment = snakemake.config["experiments"][snakemake.wildcards.exp]
with job(snakemake.log[0], snakemake.threads) as progress:
    run_train_star(
        out=snakemake.output.model,
        anchor_paths=list(snakemake.input.anchors),
        job=StarJob.from_params(snakemake.params.job, experiment),
        device=snakemake.config["device"],
        progress=progress,
        store=snakemake.config["store"],
        tracker=TrackerSettings.of(snakemake.config["tracker"]),
        workers=snakemake.threads,
    )
    write_metrics_csv(snakemake.output.model, snakemake.output.metrics)  # restored ones too
