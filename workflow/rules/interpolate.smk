# Stage 4 of a naive pair: interpolation curve and barrier of models a and b as they are.
# (Permuted pairs are aligned and interpolated by one job: align.smk.)


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
        "../../envs/stardomain.yaml"
    threads: lambda wc: job_threads(wc.exp)
    resources:
        # cpus_per_task: on SLURM the job's threads, not lowered to the host's --cores
        **cluster_resources("interpolate", cpus_per_task=exp_threads),
    params:
        settings=lambda wc: eval_settings(wc.exp),
        pair=lambda wc: pair_params(wc, "naive"),
        code=lambda wc: code_params(wc.exp),
    script:
        "../scripts/interpolate.py"
