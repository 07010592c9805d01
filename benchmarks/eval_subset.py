"""Benchmark: what the evaluation shortcuts of an experiment cost in accuracy, against the paper's
full protocol, on the trained models of a finished run, over as many permuted pairs as asked.

full     = every image of the train split and the test split at every t, BN statistics re-estimated
           on one full pass of the training loader at every interior t (eval.train_subset,
           test_subset and bn_batches null: the paper's protocol);
shortcut = the experiment's own eval settings in config.yaml (e.g. fmnist_cnn: 5,000 seeded images
           per split, BN re-estimated on 20 batches of 128).
Both curves of each pair go through stardomain.stages.pairs.run_curve with the run's permutation file,
so they differ only in those three keys. Prints, per pair, both barriers, their difference and the
wall time of each curve; then, per pair kind and barrier, the mean, std, min and max of the
difference (shortcut - full, and relative to full). `--json PATH` writes every figure.

Pairs: `--pairs a~b ...`, or `--all`: every permuted pair in results/<exp>/barriers.csv (kinds
regular-regular, star-heldout, star-anchor), `--per-kind N` of each kind at most, in file order. A
full curve of fmnist_cnn takes about 334 s on one core, so 10 pairs per kind take about 2 hours.

Usage (after `snakemake --configfile workflow/configs/fashion_mnist.yaml`):
  python benchmarks/eval_subset.py [--experiment fmnist_cnn] [--workdir .] \
      (--pairs regular-0~regular-10 star-main~regular-10 | --all [--per-kind 10]) \
      [--config config.yaml] [--threads 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
import torch
import yaml
from snakemake.utils import validate

from stardomain import design
from stardomain.jobs import CurveJob
from stardomain.settings import EvalSettings
from stardomain.stages.pairs import run_curve

REPO = Path(__file__).resolve().parents[1]
SHORTCUTS = ("train_subset", "test_subset", "bn_batches")
BARRIERS = ("barrier_loss_train", "barrier_loss_test", "barrier_accuracy_drop_pp_train")


def experiment(name: str, path: Path = REPO / "config.yaml") -> dict:
    """The experiment `name` of the config file `path` with the schema's defaults filled in."""
    config = yaml.safe_load(path.read_text())
    validate(config, str(REPO / "workflow/schemas/config.schema.yaml"))
    return config["experiments"][name]


def run_pairs(
    workdir: Path, exp_name: str, per_kind: int | None, kinds: list[str]
) -> list[tuple[str, str]]:
    """(pair 'a~b', kind) of the run's permuted pairs of `kinds`, at most `per_kind` of each."""
    rows = pd.read_csv(workdir / f"results/{exp_name}/barriers.csv")
    rows = rows[(rows["alignment"] == "permuted") & rows["kind"].isin(kinds)]
    if per_kind is not None:
        rows = rows.groupby("kind", sort=False).head(per_kind)
    return [
        (f"{a}~{b}", kind) for a, b, kind in zip(rows["a"], rows["b"], rows["kind"], strict=True)
    ]


def barrier_row(
    workdir: Path, exp_name: str, exp: dict, pair: str, evaluation: EvalSettings
) -> dict:
    """One permuted pair's barrier row under `evaluation`, and the seconds its curve took."""
    a, b = pair.split("~")
    models = {m: workdir / f"results/{exp_name}/{m.split('-', 1)[0]}/{m.split('-', 1)[1]}.pt"
              for m in (a, b)}  # fmt: skip
    job = replace(CurveJob.of(exp, permuted=True), evaluation=evaluation)
    ids = design.Pair(design.pair_kind(exp, a, b), "permuted", a, b)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        perm = str(workdir / f"results/{exp_name}/perm/{pair}.pt")
        run_curve(f"{tmp}/curve.csv", f"{tmp}/barrier.csv", str(models[a]), str(models[b]),
                  job, exp_name, ids, "cpu", perm_path=perm)  # fmt: skip
        seconds = time.perf_counter() - start
        row = pd.read_csv(f"{tmp}/barrier.csv").iloc[0]
    return dict({k: float(row[k]) for k in BARRIERS}, seconds=seconds)


def error_summary(out: list[dict]) -> pd.DataFrame:
    """Per kind and barrier: pairs, mean / std / min / max of shortcut - full, and of it in % of full."""
    rows = []
    for entry in out:
        for key in BARRIERS:
            full, short = entry["full"][key], entry["shortcut"][key]
            relative = 100 * (short - full) / full if full else float("nan")
            rows.append(dict(kind=entry["kind"], barrier=key, error=short - full, percent=relative))
    table = pd.DataFrame(rows).groupby(["kind", "barrier"], sort=False)
    summary = table["error"].agg(["count", "mean", "std", "min", "max"])
    return summary.join(table["percent"].agg(["mean", "std", "min", "max"]).add_prefix("% "))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default="fmnist_cnn")
    parser.add_argument("--workdir", type=Path, default=Path("."))
    parser.add_argument("--config", type=Path, default=REPO / "config.yaml",
                        help="the config file that defines --experiment")  # fmt: skip
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--pairs", nargs="+", help="a~b ids of permuted pairs")
    which.add_argument("--all", action="store_true", help="every permuted pair of the run")
    parser.add_argument("--per-kind", type=int, help="with --all: at most this many per kind")
    parser.add_argument("--kinds", nargs="+", default=["regular-regular", "star-heldout"],
                        help="with --all: the pair kinds (Table 1's by default)")  # fmt: skip
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    exp = experiment(args.experiment, args.config)
    if args.all:
        pairs = run_pairs(args.workdir, args.experiment, args.per_kind, args.kinds)
    else:
        chosen = args.pairs or ["regular-0~regular-10", "star-main~regular-10"]
        pairs = [(p, design.pair_kind(exp, *p.split("~"))) for p in chosen]
    shortcut = EvalSettings.of(exp["eval"])
    full = replace(shortcut, **{k: None for k in SHORTCUTS})
    print(f"{args.experiment}: shortcut { ({k: getattr(shortcut, k) for k in SHORTCUTS}) } vs "
          f"full protocol, {len(pairs)} permuted pairs")  # fmt: skip
    out = []
    for pair, kind in pairs:
        rows = {name: barrier_row(args.workdir, args.experiment, exp, pair, cfg)
                for name, cfg in (("full", full), ("shortcut", shortcut))}  # fmt: skip
        out.append(dict(pair=pair, kind=kind, **rows))
        for key in BARRIERS:
            f, s = rows["full"][key], rows["shortcut"][key]
            relative = f" ({100 * (s - f) / f:+.1f} %)" if f else ""
            print(f"  {pair:28s} {key:32s} full {f:.4f}  shortcut {s:.4f}  "
                  f"difference {s - f:+.4f}{relative}")  # fmt: skip
        print(f"  {pair:28s} curve wall time: full {rows['full']['seconds']:.0f} s, "
              f"shortcut {rows['shortcut']['seconds']:.0f} s", flush=True)  # fmt: skip
    summary = error_summary(out)
    print("\nshortcut - full, per pair kind and barrier (std over pairs, ddof 1):")
    formats = {c: (lambda v: f"{v:+.1f}") if c.startswith("%") else (lambda v: f"{v:+.4f}")
               for c in summary.columns if c != "count"}  # fmt: skip
    print(summary.to_string(formatters=formats))
    if args.json:
        records = summary.reset_index().to_dict(orient="records")
        args.json.write_text(json.dumps(dict(experiment=args.experiment, pairs=out,
                                             summary=records), indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
