"""Adapter: train one regular model (see stardomain.pipeline.run_train_regular)."""

from stardomain.pipeline import job, run_train_regular

with job(snakemake.log[0], snakemake.threads) as progress:
    run_train_regular(
        snakemake.output.model,
        snakemake.params.settings,
        snakemake.params.seed,
        snakemake.config["device"],
        progress,
        store=snakemake.config["store"],
    )
