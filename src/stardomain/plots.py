"""Figures from CSV files only (plotting never loads a model).

`fig2`: loss and accuracy along t, mean with a ±1 std band over pairs, one line per pair kind, in the
style of the paper's Figure 2. Lines differ in colour, dash and marker so they survive greyscale.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from stardomain.io import atomic_path

STYLES = {  # (kind, alignment) -> label, colour, dash, marker
    ("regular-regular", "naive"): ("regular–regular (naive)", "#999999", (0, (1, 1)), "x"),
    ("regular-regular", "permuted"): ("regular–regular (permuted)", "#d95f02", "--", "s"),
    ("star-heldout", "naive"): ("star–held-out (naive)", "#7570b3", (0, (3, 1, 1, 1)), "v"),
    ("star-heldout", "permuted"): ("star–held-out (permuted)", "#1b9e77", "-", "o"),
    ("star-anchor", "permuted"): ("star–anchor (permuted)", "#000000", "-.", "^"),
}
METRICS = {"loss": "cross-entropy loss (nats)", "accuracy": "accuracy (%)"}


def fig2(curves: pd.DataFrame, out_paths: list[str]) -> None:
    """Draw Figure 2 for every experiment in `curves` and save it to each of `out_paths`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = curves.copy()
    curves["accuracy"] = 100 * curves["accuracy"]
    panels = [(e, s) for e in sorted(curves["experiment"].unique()) for s in ("train", "test")]
    fig, axes = plt.subplots(
        len(METRICS), len(panels), figsize=(3.2 * len(panels), 5.2), squeeze=False
    )
    for col, (exp, split) in enumerate(panels):
        part = curves[(curves["experiment"] == exp) & (curves["split"] == split)]
        stars = sorted(part.loc[part["kind"] != "regular-regular", "a"].unique())
        for row, (metric, ylabel) in enumerate(METRICS.items()):
            ax = axes[row][col]
            for (kind, alignment), (label, colour, dash, marker) in STYLES.items():
                sel = part[(part["kind"] == kind) & (part["alignment"] == alignment)]
                for star in stars if kind != "regular-regular" else [None]:
                    lines = sel if star is None else sel[sel["a"] == star]
                    if lines.empty:
                        continue
                    stats = lines.groupby("t")[metric].agg(["mean", "std"]).fillna(0.0)
                    name = label if star is None or len(stars) == 1 else f"{label} {star}"
                    ax.plot(
                        stats.index,
                        stats["mean"],
                        color=colour,
                        linestyle=dash,
                        marker=marker,
                        markersize=3,
                        label=name,
                    )
                    ax.fill_between(
                        stats.index,
                        stats["mean"] - stats["std"],
                        stats["mean"] + stats["std"],
                        color=colour,
                        alpha=0.15,
                    )
            ax.set_xlabel("interpolation coefficient t")
            ax.set_ylabel(ylabel)
            ax.grid(alpha=0.3)
            if row == 0:
                ax.set_title(f"{exp} — {split} split", fontsize=9)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(
        handles, labels, loc="lower center", ncol=min(len(labels), 3), fontsize=8, frameon=False
    )
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    for path in out_paths:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=150, format=Path(path).suffix.lstrip("."))
    plt.close(fig)
