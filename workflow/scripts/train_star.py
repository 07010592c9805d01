"""Adapter: train one star model with Starlight (see stardomain.pipeline.run_train_star)."""

from stardomain.pipeline import job, run_train_star
from stardomain.provenance import with_untracked
from stardomain.tracking import write_metrics_csv

settings = with_untracked(
    snakemake.params.settings, snakemake.config["experiments"][snakemake.wildcards.exp]
)
with job(snakemake.log[0], snakemake.threads) as progress:
    run_train_star(
        snakemake.output.model,
        list(snakemake.input.anchors),
        settings,
        snakemake.config["device"],
        progress,
        store=snakemake.config["store"],
        tracker=snakemake.config["tracker"],
        workers=snakemake.threads,
    )
    write_metrics_csv(snakemake.output.model, snakemake.output.metrics)  # restored ones too
