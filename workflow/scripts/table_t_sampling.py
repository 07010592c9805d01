"""Adapter: the t-sampling table (see stardomain.figures.write_t_sampling)."""

from stardomain.figures import write_t_sampling
from stardomain.pipeline import job

with job(snakemake.log[0]):
    write_t_sampling(
        snakemake.input.barriers,
        snakemake.input.design,
        snakemake.params.selection["experiment"],
        snakemake.params.selection["stars"],
        snakemake.output.csv,
        snakemake.output.md,
    )
