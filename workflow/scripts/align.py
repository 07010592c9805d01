"""Adapter: permutation of model b onto model a (see stardomain.pipeline.run_align)."""

from stardomain.pipeline import job, run_align

with job(snakemake.log[0], snakemake.threads):
    run_align(
        snakemake.output.perm,
        snakemake.input.a,
        snakemake.input.b,
        snakemake.params.settings,
        snakemake.config["device"],
    )
