"""Tables from barrier CSVs: the paper's Table 1 (train-loss barriers) and Table 3 (test loss).

One row per (experiment, star): star-held-out vs regular-regular barriers after permutation, as
mean, std and number of pairs, their ratio, and the endpoint models' train loss and test accuracy.
"""

from __future__ import annotations

import pandas as pd

KINDS = ("regular-regular", "star-heldout", "star-anchor")


def _stats(values: pd.Series) -> tuple[float, float, int]:
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0, len(values)


def table1(barriers: pd.DataFrame) -> pd.DataFrame:
    """Summarise a barriers table (rows as written by the curve jobs) per experiment and star."""
    rows = []
    permuted = barriers[barriers["alignment"] == "permuted"]
    for exp, part in permuted.groupby("experiment", sort=True):
        regular = part[part["kind"] == "regular-regular"]
        stars = part[part["kind"] == "star-heldout"]
        for star, star_part in stars.groupby("a", sort=True):
            row = dict(experiment=exp, star=star)
            for split in ("train", "test"):
                col = f"barrier_loss_{split}"
                s_mean, s_std, s_n = _stats(star_part[col])
                r_mean, r_std, r_n = _stats(regular[col])
                row |= {
                    f"star_heldout_{col}_mean": s_mean,
                    f"star_heldout_{col}_std": s_std,
                    f"regular_regular_{col}_mean": r_mean,
                    f"regular_regular_{col}_std": r_std,
                    f"ratio_{col}": s_mean / r_mean if r_mean > 0 else float("nan"),
                }
            row |= dict(n_star_heldout_pairs=s_n, n_regular_regular_pairs=r_n)
            # endpoint metrics: the star is model a; regular models are the held-out b's
            row["star_train_loss"] = float(star_part["loss_train_a"].mean())
            row["star_test_accuracy"] = float(star_part["accuracy_test_a"].mean())
            row["regular_train_loss_mean"] = float(star_part["loss_train_b"].mean())
            row["regular_test_accuracy_mean"] = float(star_part["accuracy_test_b"].mean())
            rows.append(row)
    return pd.DataFrame(rows)


def _pm(mean: float, std: float) -> str:
    return f"{mean:.3f} ± {std:.3f}"


def table1_markdown(table: pd.DataFrame) -> str:
    """The paper-style rendering: barriers as mean ± std, ratio, endpoint metrics."""
    head = (
        "| experiment | star | train-loss barrier star–held-out | regular–regular | ratio "
        "| test-loss barrier star–held-out | regular–regular | ratio | pairs (star / regular) "
        "| star train loss | star test acc. (%) | regular test acc. (%) |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for r in table.itertuples(index=False):
        r = r._asdict()
        cells = [r["experiment"], r["star"]]
        for split in ("train", "test"):
            col = f"barrier_loss_{split}"
            cells += [
                _pm(r[f"star_heldout_{col}_mean"], r[f"star_heldout_{col}_std"]),
                _pm(r[f"regular_regular_{col}_mean"], r[f"regular_regular_{col}_std"]),
                f"{r[f'ratio_{col}']:.2f}",
            ]
        cells += [
            f"{r['n_star_heldout_pairs']} / {r['n_regular_regular_pairs']}",
            f"{r['star_train_loss']:.3f}",
            f"{100 * r['star_test_accuracy']:.1f}",
            f"{100 * r['regular_test_accuracy_mean']:.1f}",
        ]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return head + "\n".join(lines) + "\n"
