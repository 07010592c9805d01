"""Adapter: train one regular model (see stardomain.pipeline.run_train_regular)."""

from stardomain.pipeline import job, run_train_regular
from stardomain.tracking import write_metrics_csv

with job(snakemake.log[0], snakemake.threads) as progress:
    run_train_regular(
        snakemake.output.model,
        snakemake.params.settings,
        snakemake.params.seed,
        snakemake.config["device"],
        progress,
        store=snakemake.config["store"],
        tracker=snakemake.config["tracker"],
    )
    write_metrics_csv(snakemake.output.model, snakemake.output.metrics)  # restored ones too
