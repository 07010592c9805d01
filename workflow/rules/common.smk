# Shared helpers of the rules: experiment lookups, model id -> file, params bundles. Paths are
# those of the rules' outputs (rules.<name>.output), written once, in the rule that makes them.
import os
import re
from pathlib import Path

from functools import cache
from snakemake.settings.types import DeploymentMethod

from stardomain import design
from stardomain.condaenv import write_checkout_env
from stardomain.data import host_threads as data_threads
from stardomain.data import ffcv_data
from stardomain.jobs import CurveJob, EnsembleJob, RegularJob, StarJob
from stardomain.provenance import NUMERICS_VERSION, code_digests
from stardomain.settings import DataSettings, EvalSettings, ModelSettings, PlotStyle

EXPERIMENTS = config["experiments"]
FIGURES = config["figures"]
STYLE = PlotStyle.of(FIGURES["style"])

# every rule's environment (`conda:`). With --sdm conda: envs/stardomain.yaml with this checkout's
# absolute path in its pip line, since Snakemake creates the environment from a copy of the file
# in its conda folder, where `-e ..` would not be the checkout (stardomain.condaenv)
CONDA_ENV = "../../envs/stardomain.yaml"
if DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method:
    CONDA_ENV = str(
        write_checkout_env(
            workflow.source_path("../../envs/stardomain.yaml"),
            workflow.basedir,
            ".snakemake/stardomain",
        )
    )


wildcard_constraints:
    exp="[A-Za-z0-9][A-Za-z0-9_]*",
    seed=r"\d+",
    star="[A-Za-z0-9_]+",
    regular=r"regular(_[A-Za-z0-9_]+)?",
    a=r"(regular(_[A-Za-z0-9_]+)?-\d+|star-[A-Za-z0-9_]+)",
    b=r"regular(_[A-Za-z0-9_]+)?-\d+",


def model_path(exp, model_id):
    """File of a model id (regular-<seed>, regular_<group>-<seed>, star-<name>): the output of
    its training rule."""
    role, name = model_id.split("-", 1)
    if role.startswith("regular"):
        return expand(
            rules.train_regular.output.model, exp=exp, regular=role, seed=name
        )[0]
    return expand(rules.train_star.output.model, exp=exp, star=name)[0]


def data_files(exp):
    """Files every data-reading job of `exp` needs: the .beton files with data.loader ffcv, else none."""
    data = DataSettings.of(EXPERIMENTS[exp]["data"])
    if data.loader != "ffcv":
        return []
    return [str(p) for p in ffcv_data.beton_paths(data).values()]


def job_threads(exp):
    """CPU threads of a job reading `exp`'s data: 1, or 1 + data.workers for ImageNet's decoding.

    Locally Snakemake lowers it to --cores; on SLURM it is the job's --cpus-per-task.
    """
    return data_threads(DataSettings.of(EXPERIMENTS[exp]["data"]))


def exp_threads(wildcards):
    """`job_threads` of the job's experiment (a resources callable)."""
    return job_threads(wildcards.exp)


def cluster_resources(rule, **fixed):
    """`resources:` of a heavy rule: config `resources` (design.job_resources) per job, plus `fixed`.

    runtime (minutes) grows with the attempt, so a retry after a time limit gets more time; a
    partition or account set nowhere in the config comes from $STARDOMAIN_SLURM_PARTITION /
    $STARDOMAIN_SLURM_ACCOUNT, else stays unset (None): the executor chooses (docs/slurm.md).
    """

    def request(name, env=None):
        def value(wildcards, attempt):
            got = design.job_resources(config, wildcards.get("exp"), rule).get(name)
            got = got if got is not None or env is None else os.environ.get(env)
            return got * attempt if name == "runtime" else got

        return value

    return dict(
        fixed,
        runtime=request("runtime"),
        mem_mb=request("mem_mb"),
        slurm_partition=request("slurm_partition", "STARDOMAIN_SLURM_PARTITION"),
        slurm_account=request("slurm_account", "STARDOMAIN_SLURM_ACCOUNT"),
    )


# .beton path without its suffix -> its write_beton arguments, over experiments using ffcv
BETONS = {
    str(path.with_suffix("")): source
    for path, source in design.beton_writers(EXPERIMENTS).items()
}
# rule ffcv_beton writes exactly these files (a pattern that matches nothing when there are none)
BETON_PATTERN = "|".join(re.escape(b) for b in BETONS) or "(?!)"


def beton_folders(wildcards):
    """ImageFolder folders a .beton is written from: root/train (the class list) and the split's."""
    b = BETONS[wildcards.beton]
    root = Path(b["root"])
    return [
        str(f)
        for f in dict.fromkeys([root / "train", root / ffcv_data.FOLDERS[b["split"]]])
    ]


@cache
def code_params(exp):
    """The code a job of `exp` runs: a user factory's source digest and the library's numerics."""
    job = CurveJob.of(EXPERIMENTS[exp], permuted=False)
    return dict(numerics=NUMERICS_VERSION, **code_digests(job.data, job.model))


# What each job depends on (stardomain.jobs), as params: changing one reruns exactly its jobs.
# Keys that change no number (data.root, data.workers, eval.batch_size...) are not in params; the
# scripts take them from the config (Job.from_params).
@cache
def regular_params(exp, regular, seed):
    """`regular`: the model's folder, regular or regular_<held-out group>."""
    group = regular.removeprefix("regular_") if regular != "regular" else None
    return RegularJob.of(exp, EXPERIMENTS[exp], int(seed), group).params()


@cache
def star_params(exp, star):
    return StarJob.of(exp, EXPERIMENTS[exp], star).params()


@cache
def curve_params(exp, alignment):
    return CurveJob.of(EXPERIMENTS[exp], permuted=alignment == "permuted").params()


def pair_paths(exp, output):
    """Output `output` (curve or barrier) of every pair of experiment `exp`, in design order."""
    rule_of = {"naive": rules.interpolate, "permuted": rules.align_interpolate}
    return [
        expand(getattr(rule_of[p.alignment].output, output), exp=exp, a=p.a, b=p.b)[0]
        for p in design.pairs(EXPERIMENTS[exp])
    ]


def pair_params(wildcards, alignment):
    """The identity of a pair, copied into its curve and barrier rows."""
    return dict(
        experiment=wildcards.exp,
        kind=design.pair_kind(EXPERIMENTS[wildcards.exp], wildcards.a, wildcards.b),
        alignment=alignment,
        a=wildcards.a,
        b=wildcards.b,
    )


def ablation_experiments(figure):
    """Experiments an ablation figure (design.ABLATIONS) compares, each once, in config order."""
    return list(dict.fromkeys(design.figure_groups(FIGURES).get(figure, [])))


def ensemble_ids(exp):
    """Model ids the ensemble job reads: held-out models, stars, and each star's anchors."""
    e = EXPERIMENTS[exp]
    stars = design.ensemble_stars(e)
    star_anchors = {
        design.star_id(s): [
            design.regular_id(a) for a in design.star_settings(e, s).anchors
        ]
        for s in stars
    }
    return dict(
        heldout=[design.regular_id(h) for h in design.heldout(e)],
        stars=[design.star_id(s) for s in stars],
        star_anchors=star_anchors,
        anchors=list(dict.fromkeys(a for ids in star_anchors.values() for a in ids)),
    )
