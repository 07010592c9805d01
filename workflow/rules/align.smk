# Stage 2: permutation alignment of model b onto model a (weight matching by default).


rule align:
    input:
        a=lambda wc: model_path(wc.exp, wc.a),
        b=lambda wc: model_path(wc.exp, wc.b),
        data=lambda wc: data_files(wc.exp),
    output:
        perm="results/{exp}/perm/{a}~{b}.pt",
    log:
        "logs/{exp}/perm/{a}~{b}.log",
    conda:
        "../../envs/stardomain.yaml"
    threads: 1
    params:
        settings=lambda wc: align_settings(wc.exp),
        version=VERSION,
    script:
        "../scripts/align.py"
