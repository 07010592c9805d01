"""Adapter: align model b onto a, then its curve (stardomain.stages.pairs.run_align_interpolate)."""

from stardomain.joblog import job

with job(snakemake.log[0], snakemake.threads) as progress:
    # imported inside the block: a failing import is logged with its traceback too
    from stardomain.design import Pair
    from stardomain.jobs import CurveJob, made_with
    from stardomain.stages.pairs import run_align_interpolate

    name = snakemake.wildcards.exp
    exp = snakemake.config["experiments"][name]
    pair = snakemake.params.pair
    run_align_interpolate(
        out_perm=snakemake.output.perm,
        out_curve=snakemake.output.curve,
        out_barrier=snakemake.output.barrier,
        a_path=snakemake.input.a,
        b_path=snakemake.input.b,
        job=CurveJob.from_params(snakemake.params.job, exp),
        experiment=name,
        pair=Pair(pair["kind"], pair["alignment"], pair["a"], pair["b"]),
        device=snakemake.config["device"],
        progress=progress,
        made_with={m: made_with(name, exp, m) for m in (pair["a"], pair["b"])},
    )
