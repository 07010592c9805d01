# FFCV .beton files of an ImageFolder tree (stardomain.stages.ffcv; data.loader: ffcv only), one job per split,
# written once and read by every job of every experiment that names them.


rule ffcv_beton:
    input:
        beton_folders,
    output:
        beton="{beton}.beton",
    log:
        "{beton}.log",  # beside the .beton: data.root may be absolute
    wildcard_constraints:
        beton=BETON_PATTERN,
    conda:
        CONDA_ENV
    threads: 8
    resources:
        **cluster_resources("ffcv_beton", cpus_per_task=8),  # cpus: not lowered to --cores
    params:
        source=lambda wc: BETONS[wc.beton],
    script:
        "../scripts/ffcv_beton.py"
