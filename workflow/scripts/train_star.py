"""Adapter: train one star model with Starlight (see stardomain.pipeline.run_train_star)."""

from stardomain.pipeline import job, run_train_star
from stardomain.provenance import with_untracked

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
        workers=snakemake.threads,
    )
