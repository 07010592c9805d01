"""Adapter: train one regular model (see stardomain.pipeline.run_train_regular)."""

from stardomain.pipeline import job, run_train_regular
from stardomain.provenance import with_untracked
from stardomain.tracking import write_metrics_csv

settings = with_untracked(
    snakemake.params.settings, snakemake.config["experiments"][snakemake.wildcards.exp]
)
with job(snakemake.log[0], snakemake.threads) as progress:
    run_train_regular(
        snakemake.output.model,
        settings,
        snakemake.params.seed,
        snakemake.config["device"],
        progress,
        store=snakemake.config["store"],
        tracker=snakemake.config["tracker"],
    )
    write_metrics_csv(snakemake.output.model, snakemake.output.metrics)  # restored ones too
