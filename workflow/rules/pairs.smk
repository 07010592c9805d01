# Pairs of models (stardomain.stages.pairs; docs/method.md, section 3): a permuted pair is aligned
# (weight matching by default, docs/alignment.md) and interpolated by one job, which halves the
# per-pair start-up (Python + torch, ~2 s on a CPU) that dominates small runs; a naive pair is only
# interpolated. Then one CSV of all barriers and one of all curves per experiment.


rule align_interpolate:
    input:
        a=lambda wc: model_path(wc.exp, wc.a),
        b=lambda wc: model_path(wc.exp, wc.b),
        data=lambda wc: data_files(wc.exp),
    output:
        perm="results/{exp}/perm/{a}~{b}.pt",
        curve="results/{exp}/curves/permuted/{a}~{b}.csv",
        barrier="results/{exp}/curves/permuted/{a}~{b}.barrier.csv",
    log:
        "logs/{exp}/perm/{a}~{b}.log",
    conda:
        CONDA_ENV
    threads: lambda wc: job_threads(wc.exp)
    resources:
        # cpus_per_task: on SLURM the job's threads, not lowered to the host's --cores
        **cluster_resources("align_interpolate", cpus_per_task=exp_threads),
    params:
        job=lambda wc: curve_params(wc.exp, "permuted"),
        pair=lambda wc: pair_params(wc, "permuted"),
        code=lambda wc: code_params(wc.exp),
    script:
        "../scripts/align_interpolate.py"


rule interpolate:
    input:
        a=lambda wc: model_path(wc.exp, wc.a),
        b=lambda wc: model_path(wc.exp, wc.b),
        data=lambda wc: data_files(wc.exp),
    output:
        curve="results/{exp}/curves/naive/{a}~{b}.csv",
        barrier="results/{exp}/curves/naive/{a}~{b}.barrier.csv",
    log:
        "logs/{exp}/curves/naive/{a}~{b}.log",
    conda:
        CONDA_ENV
    threads: lambda wc: job_threads(wc.exp)
    resources:
        # cpus_per_task: on SLURM the job's threads, not lowered to the host's --cores
        **cluster_resources("interpolate", cpus_per_task=exp_threads),
    params:
        job=lambda wc: curve_params(wc.exp, "naive"),
        pair=lambda wc: pair_params(wc, "naive"),
        code=lambda wc: code_params(wc.exp),
    script:
        "../scripts/interpolate.py"


rule barriers:
    input:
        lambda wc: pair_paths(wc.exp, "barrier"),
    output:
        csv="results/{exp}/barriers.csv",
    log:
        "logs/{exp}/barriers.log",
    localrule: True
    conda:
        CONDA_ENV
    script:
        "../scripts/concat.py"


rule curves:
    input:
        lambda wc: pair_paths(wc.exp, "curve"),
    output:
        csv="results/{exp}/curves.csv",
    log:
        "logs/{exp}/curves.log",
    localrule: True
    conda:
        CONDA_ENV
    script:
        "../scripts/concat.py"
