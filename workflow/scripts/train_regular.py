"""Adapter: train one regular model (see stardomain.pipeline.run_train_regular)."""

from stardomain.pipeline import job, run_train_regular
from stardomain.provenance import with_untracked

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
    )
