"""Adapter: the t-sampling table (see stardomain.stages.figures.write_t_sampling)."""

from stardomain.joblog import job

with job(snakemake.log[0]):
    # imported inside the block: a failing import is logged with its traceback too
    from stardomain.stages.figures import write_t_sampling

    write_t_sampling(
        barrier_paths=list(snakemake.input.barriers),
        design_paths=list(snakemake.input.designs),
        experiment=snakemake.params.selection["experiment"],
        stars=snakemake.params.selection["stars"],
        out_csv=snakemake.output.csv,
        out_md=snakemake.output.md,
    )
