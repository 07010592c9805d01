"""Adapter: the paper's Table 1 / Table 3 from barrier CSVs (see stardomain.stages.figures)."""

from stardomain.joblog import job

with job(snakemake.log[0]):
    # imported inside the block: a failing import is logged with its traceback too
    from stardomain.stages.figures import write_table1

    write_table1(
        barrier_paths=list(snakemake.input.barriers),
        design_paths=list(snakemake.input.designs),
        out_csv=snakemake.output.csv,
        out_md=snakemake.output.md,
    )
