# Stage 4: interpolation curves and barriers of one pair, naive or with b permuted onto a.


rule interpolate:
    input:
        a=lambda wc: model_path(wc.exp, wc.a),
        b=lambda wc: model_path(wc.exp, wc.b),
        perm=lambda wc: (
            [f"results/{wc.exp}/perm/{wc.a}~{wc.b}.pt"]
            if wc.alignment == "permuted"
            else []
        ),
        data=lambda wc: data_files(wc.exp),
    output:
        curve="results/{exp}/curves/{alignment}/{a}~{b}.csv",
        barrier="results/{exp}/curves/{alignment}/{a}~{b}.barrier.csv",
    log:
        "logs/{exp}/curves/{alignment}/{a}~{b}.log",
    conda:
        "../../envs/stardomain.yaml"
    threads: 1
    params:
        settings=lambda wc: eval_settings(wc.exp),
        pair=lambda wc: dict(
            experiment=wc.exp,
            kind=pair_kind(wc),
            alignment=wc.alignment,
            a=wc.a,
            b=wc.b,
        ),
        version=VERSION,
    script:
        "../scripts/interpolate.py"
