# Stages 2 and 4 of a permuted pair, in one job: permutation of model b onto model a (weight matching
# by default), then the interpolation curve of a and permuted b. One job instead of two halves the
# per-pair start-up (Python + torch, ~2 s on a CPU) that dominates small runs.


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
        "../../envs/stardomain.yaml"
    threads: lambda wc: job_threads(wc.exp)
    resources:
        # cpus_per_task: on SLURM the job's threads, not lowered to the host's --cores
        **cluster_resources("align_interpolate", cpus_per_task=exp_threads),
    params:
        settings=lambda wc: pair_settings(wc.exp),
        pair=lambda wc: pair_params(wc, "permuted"),
        code=lambda wc: code_params(wc.exp),
    script:
        "../scripts/align_interpolate.py"
