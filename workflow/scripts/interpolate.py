"""Adapter: naive interpolation curve and barrier row of one pair (stardomain.pipeline.run_curve)."""

from stardomain.pipeline import job, run_curve
from stardomain.provenance import with_untracked

settings = with_untracked(
    snakemake.params.settings, snakemake.config["experiments"][snakemake.wildcards.exp]
)
with job(snakemake.log[0], snakemake.threads) as progress:
    run_curve(
        snakemake.output.curve,
        snakemake.output.barrier,
        snakemake.input.a,
        snakemake.input.b,
        None,
        settings,
        snakemake.params.pair,
        snakemake.config["device"],
        progress,
    )
