"""Adapter: what each star of an experiment is, as a CSV (see stardomain.figures.write_design)."""

from stardomain.figures import write_design
from stardomain.pipeline import job

with job(snakemake.log[0]):
    write_design(
        snakemake.output[0],
        snakemake.wildcards.exp,
        snakemake.params.stars,
        snakemake.params.model,
        snakemake.params.n_heldout,
    )
