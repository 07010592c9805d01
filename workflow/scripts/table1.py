"""Adapter: the paper's Table 1 / Table 3 from barrier CSVs (see stardomain.summary)."""

from stardomain.pipeline import job, write_table1

with job(snakemake.log[0]):
    write_table1(list(snakemake.input), snakemake.output.csv, snakemake.output.md)
