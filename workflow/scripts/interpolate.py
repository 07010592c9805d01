"""Adapter: naive interpolation curve and barrier row of one pair (stardomain.stages.pairs.run_curve)."""

from stardomain.joblog import job

with job(snakemake.log[0], snakemake.threads) as progress:
    # imported inside the block: a failing import is logged with its traceback too
    from stardomain.provenance import with_untracked
    from stardomain.stages.pairs import run_curve

    settings = with_untracked(
        snakemake.params.settings, snakemake.config["experiments"][snakemake.wildcards.exp]
    )
    run_curve(
        out_curve=snakemake.output.curve,
        out_barrier=snakemake.output.barrier,
        a_path=snakemake.input.a,
        b_path=snakemake.input.b,
        settings=settings,
        pair=snakemake.params.pair,
        device=snakemake.config["device"],
        progress=progress,
    )
