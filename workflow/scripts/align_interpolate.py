"""Adapter: align model b onto a, then its curve (see stardomain.pipeline.run_align_interpolate)."""

from stardomain.pipeline import job, run_align_interpolate
from stardomain.provenance import with_untracked

settings = with_untracked(
    snakemake.params.settings, snakemake.config["experiments"][snakemake.wildcards.exp]
)
with job(snakemake.log[0], snakemake.threads) as progress:
    run_align_interpolate(
        snakemake.output.perm,
        snakemake.output.curve,
        snakemake.output.barrier,
        snakemake.input.a,
        snakemake.input.b,
        settings,
        snakemake.params.pair,
        snakemake.config["device"],
        progress,
    )
