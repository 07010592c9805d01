"""Stages of workflow/rules/figures.smk: CSV files in, CSV / Markdown / PDF / PNG files out.

Every figure is drawn from CSV files only, and every figure writes the numbers it draws as a CSV
beside it. `style` is the config's `figures.style`; it reaches only the drawing functions.
"""

from __future__ import annotations

import pandas as pd

from stardomain import plots, summary
from stardomain.io import atomic_path
from stardomain.settings import ModelSettings, PlotStyle, StarSettings


def _read(paths: list[str]) -> pd.DataFrame:
    return pd.concat([pd.read_csv(p) for p in paths], ignore_index=True)


def _write_csv(table: pd.DataFrame, path: str) -> None:
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)


def _write_text(text: str, path: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def _pm(
    table: pd.DataFrame, column: str, scale: float = 1.0, digits: int = 3, count: str | None = None
) -> pd.Series:
    """'mean ± std' strings of `<column>_mean` and `<column>_std` (the mean alone where the
    `count` column says it is one value)."""
    mean, std = scale * table[f"{column}_mean"], scale * table[f"{column}_std"]
    single = table[count] == 1 if count else pd.Series(False, index=table.index)
    return pd.Series(
        [
            f"{m:.{digits}f}" if one else f"{m:.{digits}f} ± {s:.{digits}f}"
            for m, s, one in zip(mean, std, single, strict=True)
        ]
    )


def write_design(
    out_csv: str,
    name: str,
    stars: dict[str, StarSettings],
    replicate_of: dict[str, str],
    model: ModelSettings,
    n_heldout: int,
) -> None:
    """results/<exp>/design.csv: what each star of the experiment is (see `summary.design_table`)."""
    _write_csv(summary.design_table(name, stars, replicate_of, model, n_heldout), out_csv)


def write_table1(
    barrier_paths: list[str], design_paths: list[str], out_csv: str, out_md: str
) -> None:
    """Table 1 (train) and Table 3 (test loss) from experiment barrier CSVs (and design CSVs, which
    say which stars are replicates of one another): CSV and Markdown."""
    table = summary.table1(_read(barrier_paths), _read(design_paths))
    _write_csv(table, out_csv)
    _write_text(summary.table1_markdown(table), out_md)


def write_fig2(curve_paths: list[str], out_paths: list[str], style: PlotStyle, stars=None) -> None:
    """Figure 2 from experiment curve CSVs."""
    plots.fig2(_read(curve_paths), out_paths, style, stars)


def _stars(barrier_paths: list[str], design_paths: list[str]) -> pd.DataFrame:
    return summary.star_barriers(_read(barrier_paths), _read(design_paths))


def write_n_anchors(
    barrier_paths: list[str],
    design_paths: list[str],
    experiment: str,
    stars: list[str],
    out_csv: str,
    out_paths: list[str],
    style: PlotStyle,
) -> None:
    """Barrier vs number of anchors N: the plotted table (CSV) and the figure."""
    table = summary.select_stars(_stars(barrier_paths, design_paths), experiment, stars)
    table = table.sort_values("n_anchors")
    _write_csv(table, out_csv)
    plots.fig_n_anchors(table, out_paths, style)


def write_t_sampling(
    barrier_paths: list[str],
    design_paths: list[str],
    experiment: str,
    stars: list[str],
    out_csv: str,
    out_md: str,
) -> None:
    """t-sampling table: star-held-out barriers and the star's own loss and accuracy per scheme."""
    table = summary.select_stars(_stars(barrier_paths, design_paths), experiment, stars)
    table["ratio_barrier_loss_train"] = (
        table["star_barrier_loss_train_mean"] / table["regular_barrier_loss_train_mean"]
    )
    _write_csv(table, out_csv)
    shown = pd.DataFrame(
        {
            "star": table["star"],
            "t": table["t_label"],
            "N": table["n_anchors"],
            "train": _pm(table, "star_barrier_loss_train"),
            "test": _pm(table, "star_barrier_loss_test"),
            "ratio": [f"{v:.2f}" for v in table["ratio_barrier_loss_train"]],
            "loss": table["star_train_loss"],
            "acc": [f"{100 * v:.1f}" for v in table["star_test_accuracy"]],
        }
    )
    headers = {
        "star": "star",
        "t": "t sampling",
        "N": "N",
        "train": "train-loss barrier star–held-out (nats)",
        "test": "test-loss barrier (nats)",
        "ratio": "ratio to regular–regular (train)",
        "loss": "star train loss (nats)",
        "acc": "star test acc. (%)",
    }
    reference = _pm(table.iloc[:1], "regular_barrier_loss_train").iloc[0]
    note = f"\nregular–regular train-loss barrier (permuted): {reference} nats\n"
    _write_text(summary.markdown(shown, headers) + note, out_md)


def write_width_depth(
    barrier_paths: list[str],
    design_paths: list[str],
    width: list[str],
    depth: list[str],
    out_csv: str,
    out_paths: list[str],
    style: PlotStyle,
) -> None:
    """Barrier vs width and depth and the star vs regular scatter; the CSV has one row per point
    and the fitted slope in column `fit_slope`."""
    table = summary.sweep_table(_stars(barrier_paths, design_paths), width, depth)
    slope = plots.fig_width_depth(table, out_paths, style)
    _write_csv(table.assign(fit_slope=slope), out_csv)


def write_ensemble(
    metric_paths: list[str], out_csv: str, out_md: str, out_paths: list[str], style: PlotStyle
) -> None:
    """Ensemble / BMA comparison: summary table (CSV, Markdown) and the bar figure."""
    table = summary.ensemble_summary(_read(metric_paths))
    _write_csv(table, out_csv)
    shown = pd.DataFrame(
        {
            "experiment": table["experiment"],
            "method": table["method"],
            "star": table["star"],
            "models": table["models"],
            "members": table["members"],
            "acc": _pm(table, "accuracy", 100, 1, "models"),
            "nll": _pm(table, "nll", count="models"),
            "ece": _pm(table, "ece", 100, 2, "models"),
            "auroc": _pm(table, "auroc_misclassification", count="models"),
        }
    )
    headers = {
        "experiment": "experiment",
        "method": "method",
        "star": "star",
        "models": "models (mean ± std over)",
        "members": "models averaged",
        "acc": "test acc. (%)",
        "nll": "test NLL (nats)",
        "ece": "ECE (%)",
        "auroc": "misclassification AUROC",
    }
    _write_text(summary.markdown(shown, headers), out_md)
    plots.fig_ensemble(table, out_paths, style)
