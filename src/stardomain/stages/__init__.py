"""The stage layer: one module per rules file of the workflow, from input files to output files.

    workflow/rules/<stage>.smk   what is computed and where (paths, params, resources)
    workflow/scripts/<job>.py    unpacks Snakemake's objects, calls one function of
    stardomain.stages.<stage>    this layer: reads files, builds typed settings, calls the maths
    stardomain.{starlight, barrier, perm, evaluate, train, ensemble, summary, plots}   the maths
    stardomain.{data, models, archs}                                 data sets and networks

Every function here takes explicit paths and settings, so a stage can be rerun from a notebook or
a test without Snakemake. The maths never imports this package (tests/test_architecture.py).
Modules: train (regular models), star (Starlight), pairs (alignment, curves, barriers, CSVs of all
pairs), ensemble (star vs ensembles, BMA), figures (design, tables, figures), ffcv (.beton files).
"""
