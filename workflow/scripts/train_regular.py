"""Adapter: train one regular model (see stardomain.stages.train.run_train_regular)."""

from stardomain.provenance import with_untracked
from stardomain.stages.common import job
from stardomain.stages.train import run_train_regular
from stardomain.tracking import write_metrics_csv

settings = with_untracked(
    snakemake.params.settings, snakemake.config["experiments"][snakemake.wildcards.exp]
)
with job(snakemake.log[0], snakemake.threads) as progress:
    run_train_regular(
        out=snakemake.output.model,
        settings=settings,
        seed=snakemake.params.seed,
        device=snakemake.config["device"],
        progress=progress,
        store=snakemake.config["store"],
        tracker=snakemake.config["tracker"],
    )
    write_metrics_csv(snakemake.output.model, snakemake.output.metrics)  # restored ones too
