"""Adapter: naive interpolation curve and barrier row of one pair (stardomain.stages.pairs.run_curve)."""

from stardomain.design import Pair
from stardomain.jobs import CurveJob
from stardomain.stages.common import job
from stardomain.stages.pairs import run_curve

experiment = snakemake.config["experiments"][snakemake.wildcards.exp]
pair = snakemake.params.pair
with job(snakemake.log[0], snakemake.threads) as progress:
    run_curve(
        out_curve=snakemake.output.curve,
        out_barrier=snakemake.output.barrier,
        a_path=snakemake.input.a,
        b_path=snakemake.input.b,
        job=CurveJob.from_params(snakemake.params.job, experiment),
        experiment=snakemake.wildcards.exp,
        pair=Pair(pair["kind"], pair["alignment"], pair["a"], pair["b"]),
        device=snakemake.config["device"],
        progress=progress,
    )
