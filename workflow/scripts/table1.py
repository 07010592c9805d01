"""Adapter: the paper's Table 1 / Table 3 from barrier CSVs (see stardomain.figures.write_table1)."""

from stardomain.figures import write_table1
from stardomain.pipeline import job

with job(snakemake.log[0]):
    write_table1(
        list(snakemake.input.barriers),
        list(snakemake.input.designs),
        snakemake.output.csv,
        snakemake.output.md,
    )
