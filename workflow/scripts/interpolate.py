"""Adapter: naive interpolation curve and barrier row of one pair (stardomain.stages.pairs.run_curve)."""

from stardomain.joblog import job

with job(snakemake.log[0], snakemake.threads) as progress:
    # imported inside the block: a failing import is logged with its traceback too
    from stardomain.design import Pair
    from stardomain.jobs import CurveJob
    from stardomain.stages.pairs import run_curve

    exp = snakemake.config["experiments"][snakemake.wildcards.exp]
    pair = snakemake.params.pair
    run_curve(
        out_curve=snakemake.output.curve,
        out_barrier=snakemake.output.barrier,
        a_path=snakemake.input.a,
        b_path=snakemake.input.b,
        job=CurveJob.from_params(snakemake.params.job, exp),
        experiment=snakemake.wildcards.exp,
        pair=Pair(pair["kind"], pair["alignment"], pair["a"], pair["b"]),
        device=snakemake.config["device"],
        progress=progress,
    )
