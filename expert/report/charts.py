"""Report charts as matplotlib SVG with searchable text and reproducible bytes.

Every chart is drawn from the analysis (never from numbers typed here), with
``svg.fonttype='none'`` so its text stays text in the PDF, a fixed
``svg.hashsalt`` and no date, so the same analysis gives the same SVG bytes
(REPORTING.md §2).
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from ..analysis import MACRO, Analysis

__all__ = ["make_charts", "CHART_RC"]

CHART_RC = {
    "svg.fonttype": "none",
    "svg.hashsalt": "expert-report",
    "font.family": "DejaVu Sans",
    "font.size": 8.5,
    "axes.unicode_minus": True,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 9.5,
    "axes.labelsize": 8.5,
    "legend.fontsize": 8,
    "legend.frameon": False,
}
MARKERS = ["o", "s", "D", "^", "v", "P", "X"]
COLORS = ["#1f4e79", "#c55a11", "#548235", "#7030a0", "#bf9000", "#2e75b6", "#7f7f7f"]
MAX_FOREST_ROWS = 30


def make_charts(analysis: Analysis, scale: float, unit: str, top_rows: int, allocations: dict | None = None,
                sensitivity_table=None) -> dict[str, bytes]:
    """Draw every chart of the report.

    Returns
    -------
    dict
        File name (e.g. ``forest-sector.svg``) -> SVG bytes. Keys without the
        suffix name the chart in the report context.
    """
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    charts = {}
    with matplotlib.rc_context(CHART_RC):
        values = analysis.valuations
        loo = values[(values["method"] == "loo") & (values["benchmark"] == MACRO)]
        for grouping in analysis.case.groupings:
            rows = loo[loo["grouping"] == grouping.name].sort_values(["estimate", "group"], ascending=[False, True])
            if len(rows):
                charts[f"forest-{grouping.name}.svg"] = _forest(plt, rows.head(min(top_rows, MAX_FOREST_ROWS)), scale, unit,
                                                               grouping.name, len(rows))
        charts["size.svg"] = _size_chart(plt, analysis, loo, scale, unit)
        gaps = values[(values["benchmark"] == MACRO) & (values["method"].isin(["grouping_gap", "sum_of_parts"]))]
        if len(gaps):
            charts["gap.svg"] = _gap_chart(plt, values, scale, unit)
        owen = _owen_chart(plt, analysis, scale, unit)
        if owen is not None:
            charts["owen.svg"] = owen
        if analysis.case.scenarios:
            charts.update(_scenario_charts(plt, analysis, allocations, sensitivity_table))
    return charts


def _scenario_charts(plt, analysis: Analysis, allocations=None, tornado=None) -> dict:
    from ..scenarios import Allocation, allocate_all, comparison, sensitivity

    allocations = allocations if allocations is not None else allocate_all(analysis)
    available = [name for name, result in allocations.items() if isinstance(result, Allocation)]
    if not available:
        return {}
    table = comparison(allocations)
    first = f"{available[0]}: amount"
    body = table[~table["class"].isin(["TOTAL", "collective"])].sort_values([first, "claimant"], ascending=[False, True]).head(10)
    charts = {}
    figure, axes = plt.subplots(figsize=(6.5, 0.9 + 0.32 * len(body) * max(1, len(available)) / 2))
    height = 0.8 / len(available)
    for index, name in enumerate(available):
        y = np.arange(len(body))[::-1] + (len(available) / 2 - index - 0.5) * height
        amount = body[f"{name}: amount"].to_numpy() / 1e6
        low = body[f"{name}: low"].to_numpy() / 1e6
        high = body[f"{name}: high"].to_numpy() / 1e6
        axes.barh(y, amount, height=height, color=COLORS[index % len(COLORS)], label=_short(name, 60))
        axes.errorbar(amount, y, xerr=[amount - low, high - amount], fmt="none", ecolor="black", capsize=1.5,
                      linewidth=0.6)
    axes.set_yticks(np.arange(len(body))[::-1])
    axes.set_yticklabels([_short(f"{c}: {n}", 30) for c, n in zip(body["class"], body["claimant"])])
    currency = allocations[available[0]].currency
    axes.set_xlabel(f"Amount, {currency} millions (bars: percentile intervals)")
    axes.set_title("Largest claimants under each scenario", loc="left")
    axes.legend(loc="lower right", fontsize=6.5)
    charts["scenarios.svg"] = _save(plt, figure)
    tornado = tornado if tornado is not None else sensitivity(analysis, available[0])
    if len(tornado):
        figure, axes = plt.subplots(figsize=(6.5, 0.9 + 0.3 * len(tornado)))
        base = tornado["base"].iloc[0] / 1e6
        order = (tornado["amount"] / 1e6 - base).abs().sort_values().index
        rows = tornado.loc[order]
        y = np.arange(len(rows))
        delta = rows["amount"].to_numpy() / 1e6 - base
        axes.barh(y, delta, left=base, color=[COLORS[0] if d >= 0 else COLORS[1] for d in delta])
        axes.axvline(base, color="black", linewidth=0.8)
        axes.set_yticks(y)
        axes.set_yticklabels(list(rows["setting"]))
        claimant = f"{tornado['class'].iloc[0]} {tornado['claimant'].iloc[0]}"
        axes.set_xlabel(f"Amount to {claimant}, {currency} millions (line: the scenario as stated)")
        axes.set_title(f"Sensitivity of '{_short(available[0], 50)}'", loc="left")
        charts["tornado.svg"] = _save(plt, figure)
    return charts


def _owen_chart(plt, analysis: Analysis, scale: float, unit: str):
    """Stacked bars: each coarsest group's Owen total split into its finer groups' Owen values."""
    values = analysis.valuations
    owen = values[(values["method"] == "owen") & (values["benchmark"] == MACRO)]
    groupings = analysis.case.groupings
    nests = {(finer, coarser): ok for finer, coarser, ok in analysis.case.nesting}
    for position in range(len(groupings) - 1, 0, -1):
        coarse, fine = groupings[position], groupings[position - 1]
        top = owen[owen["grouping"] == coarse.name]
        below = owen[owen["grouping"] == fine.name]
        if len(top) and len(below) and nests.get((fine.name, coarse.name)):
            break
    else:
        return None
    parent = {}
    for index, group in enumerate(fine.groups):
        members = fine.membership == index
        parent[group] = coarse.groups[int(coarse.membership[np.flatnonzero(members)[0]])]
    order = top.sort_values("estimate", ascending=True)
    figure, axes = plt.subplots(figsize=(6.5, 0.8 + 0.45 * len(order)))
    for y, (_, row) in enumerate(order.iterrows()):
        parts = below[[parent[str(g)] == row["group"] for g in below["group"]]].sort_values("estimate", ascending=False)
        left = 0.0
        for index, (_, part) in enumerate(parts.iterrows()):
            width = part["estimate"] * scale
            axes.barh(y, width, left=left, color=COLORS[index % len(COLORS)], edgecolor="white", linewidth=0.6)
            if width > 0.08 * max(1e-12, order["estimate"].max() * scale):
                axes.text(left + width / 2, y, _short(str(part["group"]), 14), ha="center", va="center", fontsize=6.5,
                          color="white")
            left += width
        low, high = row["ci_low"] * scale, row["ci_high"] * scale
        axes.errorbar(row["estimate"] * scale, y, xerr=[[row["estimate"] * scale - low], [high - row["estimate"] * scale]],
                      fmt="none", ecolor="black", capsize=2, linewidth=0.8)
    axes.set_yticks(range(len(order)))
    axes.set_yticklabels([_short(str(g)) for g in order["group"]])
    axes.set_xlabel(f"Owen value, {unit}; bar: {coarse.name} total (= Shapley of the {coarse.name} game) with its interval")
    assumption = str(below["assumption"].iloc[0]) if "assumption" in below and len(below) else ""
    axes.set_title(f"{coarse.name} totals split into {fine.name} values ({assumption})", loc="left")
    axes.axvline(0, color="black", linewidth=0.7)
    return _save(plt, figure)


def _save(plt, figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def _forest(plt, rows: pd.DataFrame, scale: float, unit: str, grouping: str, total: int) -> bytes:
    n = len(rows)
    figure, axes = plt.subplots(figsize=(6.5, 0.9 + 0.22 * n))
    y = np.arange(n)[::-1]
    estimate = rows["estimate"].to_numpy() * scale
    low = rows["ci_low"].to_numpy() * scale
    high = rows["ci_high"].to_numpy() * scale
    mde = rows["mde"].to_numpy() * scale
    axes.errorbar(estimate, y, xerr=[estimate - low, high - estimate], fmt="o", color=COLORS[0], ecolor=COLORS[0],
                  markersize=3.5, capsize=2, linewidth=1)
    finite = np.isfinite(mde)
    if finite.any():
        band = float(np.median(mde[finite]))
        axes.axvspan(-band, band, color="#d9d9d9", alpha=0.6, linewidth=0, label=f"±median MDE ({band:.3f})")
        axes.legend(loc="lower right")
    axes.axvline(0, color="black", linewidth=0.7)
    axes.set_yticks(y)
    axes.set_yticklabels([_short(str(group)) for group in rows["group"]])
    axes.set_xlabel(f"Leave-one-out value, {unit}; bars: confidence intervals")
    shown = f"top {n} of {total}" if n < total else f"all {total}"
    axes.set_title(f"{grouping}: leave-one-out value ({shown}, macro average)", loc="left")
    axes.grid(axis="x", color="#eeeeee", linewidth=0.6)
    return _save(plt, figure)


def _size_chart(plt, analysis: Analysis, loo: pd.DataFrame, scale: float, unit: str) -> bytes:
    figure, axes = plt.subplots(figsize=(6.5, 3.6))
    all_mde = []
    for index, grouping in enumerate(analysis.case.groupings):
        rows = loo[loo["grouping"] == grouping.name]
        if not len(rows):
            continue
        size = rows["n_works"].to_numpy(dtype=float)
        estimate = rows["estimate"].to_numpy() * scale
        low = rows["ci_low"].to_numpy() * scale
        high = rows["ci_high"].to_numpy() * scale
        axes.errorbar(size, estimate, yerr=[estimate - low, high - estimate], fmt=MARKERS[index % len(MARKERS)],
                      color=COLORS[index % len(COLORS)], markersize=4, capsize=1.5, linewidth=0.8, alpha=0.9,
                      label=f"{grouping.name} ({len(rows)})")
        all_mde.extend((rows["mde"].to_numpy() * scale)[np.isfinite(rows["mde"].to_numpy())])
    if all_mde:
        band = float(np.median(all_mde))
        axes.axhspan(-band, band, color="#d9d9d9", alpha=0.6, linewidth=0, label=f"noise band: ±median MDE ({band:.3f})")
    axes.axhline(0, color="black", linewidth=0.7)
    axes.set_xscale("log")
    axes.set_xlabel("Works in the group removed (log scale)")
    axes.set_ylabel(f"Leave-one-out value, {unit}")
    axes.set_title("Value against group size (macro average; bars: confidence intervals)", loc="left")
    axes.legend(loc="upper left")
    axes.grid(color="#eeeeee", linewidth=0.6)
    return _save(plt, figure)


def _gap_chart(plt, values: pd.DataFrame, scale: float, unit: str) -> bytes:
    macro = values[values["benchmark"] == MACRO]
    gaps = macro[macro["method"] == "grouping_gap"]
    figure, axes = plt.subplots(figsize=(6.5, 3.6))
    pairs = sorted({(row["grouping"], row["finer"]) for _, row in gaps.iterrows()})
    top = 0.0
    for index, (grouping, finer) in enumerate(pairs):
        selected = gaps[(gaps["grouping"] == grouping) & (gaps["finer"] == finer)]
        xs, ys, x_err, y_err = [], [], [[], []], [[], []]
        for _, row in selected.iterrows():
            parts = macro[(macro["method"] == "sum_of_parts") & (macro["grouping"] == grouping)
                          & (macro["group"] == row["group"]) & (macro["finer"] == finer)].iloc[0]
            whole = macro[(macro["method"] == "loo") & (macro["grouping"] == grouping) & (macro["group"] == row["group"])].iloc[0]
            x, y = parts["estimate"] * scale, whole["estimate"] * scale
            xs.append(x)
            ys.append(y)
            x_err[0].append(x - parts["ci_low"] * scale)
            x_err[1].append(parts["ci_high"] * scale - x)
            y_err[0].append(y - whole["ci_low"] * scale)
            y_err[1].append(whole["ci_high"] * scale - y)
            top = max(top, parts["ci_high"] * scale, whole["ci_high"] * scale)
        axes.errorbar(xs, ys, xerr=x_err, yerr=y_err, fmt=MARKERS[index % len(MARKERS)], color=COLORS[index % len(COLORS)],
                      markersize=4, capsize=1.5, linewidth=0.8, label=f"{grouping} vs sum of its {finer} parts")
    low = min(0.0, axes.get_xlim()[0], axes.get_ylim()[0])
    axes.plot([low, top], [low, top], color="black", linewidth=0.7, linestyle="--", label="y = x (no grouping gap)")
    axes.set_xlabel(f"Sum of the parts' leave-one-out values, {unit}")
    axes.set_ylabel(f"Leave-one-out of the whole group, {unit}")
    axes.set_title("Grouping gap: points above the line are worth more together (bars: confidence intervals)", loc="left")
    axes.legend(loc="upper left")
    axes.grid(color="#eeeeee", linewidth=0.6)
    return _save(plt, figure)


def _short(text: str, limit: int = 28) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
