"""Adapter: align model b onto a, then its curve (see stardomain.pipeline.run_align_interpolate)."""

from stardomain.pipeline import job, run_align_interpolate

with job(snakemake.log[0], snakemake.threads) as progress:
    run_align_interpolate(
        snakemake.output.perm,
        snakemake.output.curve,
        snakemake.output.barrier,
        snakemake.input.a,
        snakemake.input.b,
        snakemake.params.settings,
        snakemake.params.pair,
        snakemake.config["device"],
        progress,
    )
