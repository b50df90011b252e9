"""The documented contract between the analysis and the report templates.

:func:`make_context` turns an :class:`~expert.analysis.Analysis` into a
:class:`ReportContext`: every number the report prints, already chosen and
ordered (but not yet formatted: templates format through the filters in
:mod:`expert.report.render`), exhibits numbered once, and the prose of the
summary of opinions written from the results. Each field documents itself
(``metadata["help"]``); a test checks that every field has help.
"""

from __future__ import annotations

import platform
import sys
from dataclasses import dataclass, field, fields
from importlib import metadata as importlib_metadata

import numpy as np
import pandas as pd

from .. import __version__
from ..analysis import MACRO, Analysis

__all__ = ["ReportContext", "Exhibit", "make_context", "context_fields"]

NOT_PROVIDED = "Not provided."
MAX_INVENTORY_ROWS = 60  # configurations listed in the data inventory; all are in analysis.json


@dataclass(frozen=True)
class Exhibit:
    """A numbered exhibit: its label is used in the text, the TOC, the outline and the running header."""

    number: int
    key: str
    title: str
    kind: str  # "table", "chart" or "table+chart"
    role: str  # "Summary (FRE 1006)" or "Illustrative (FRE 107)"

    @property
    def label(self) -> str:
        return f"Exhibit {self.number}"

    @property
    def anchor(self) -> str:
        return f"exhibit-{self.number}"


def _help(text: str, **kwargs):
    return field(metadata={"help": text}, **kwargs)


@dataclass(frozen=True)
class ReportContext:
    """Everything the report templates may use. Numbers are in report units (see ``unit``)."""

    matter: dict = _help("Matter fields (title, date, caption, court, docket, confidentiality, assignment); "
                         "missing ones are None and templates print 'Not provided.'")
    expert: dict = _help("The expert: name, title, affiliation, qualifications, publications, prior_testimony, compensation.")
    assumptions: list = _help("Assumptions provided by counsel (FRCP 26(b)(4)(C)), as strings.")
    legend: str = _help("Confidentiality legend printed on every page.")
    caption: str = _help("Case caption for the running header.")
    report_date: str = _help("The report's date (from matter.date), ISO format.")
    evidence: dict = _help("Evidence summary: simulated flag, description, counts of configurations, seeds, "
                           "benchmarks, items, rows; matched seeds.")
    unit: str = _help("Unit of every valuation printed (e.g. 'points (score x 100)').")
    scale: float = _help("Factor from score units (valuations.csv) to report units.")
    confidence_pct: str = _help("Confidence level as a percentage string, e.g. '95'.")
    bootstrap: dict = _help("Bootstrap settings: resamples, seed, interval, confidence, power, generator.")
    opinions: list = _help("Summary of opinions: list of sentences written from the results, each with its interval.")
    exhibits: list = _help("Every Exhibit, in order of appearance.")
    exhibit: dict = _help("Exhibit by key, for templates.")
    noise: list = _help("Noise floor rows per benchmark: benchmark, n_seeds, n_items, full_model_score, seed_sd, "
                        "item_sd, median_std_error, median_mde (report units).")
    groupings: list = _help("Per grouping, coarsest first (the order of the report): name, n_groups, n_valued, rows (top rows of macro LOO, sorted by estimate), "
                            "n_hidden, by_benchmark (rows with per-benchmark estimates), chart key, unavailable reason.")
    gaps: list = _help("Grouping-gap rows (macro average): grouping, group, finer, n_parts, loo, sum_of_parts, gap "
                       "(each a dict with estimate, ci_low, ci_high, std_error).")
    size_chart: str = _help("Asset name of the value-against-group-size chart.")
    gap_chart: str = _help("Asset name of the grouping-gap chart, or '' when there is no gap.")
    configurations: list = _help("Data inventory: per configuration (the first 60), label, works removed, seeds, "
                                 "and the macro utility with its interval.")
    benchmarks: list = _help("Benchmark names (without the macro average).")
    materials: list = _help("Materials considered: role, name, sha256, size in bytes.")
    unavailable: list = _help("Methods unavailable at a grouping: grouping, method, reason, missing groups (first 20).")
    warnings: list = _help("Analysis notes the report must disclose.")
    limitations: list = _help("Limitations paragraphs written from the evidence.")
    reproducibility: dict = _help("Versions, platform, command line, seeds, input hashes.")
    top_rows: int = _help("How many rows of a per-group table the body shows; the rest are in valuations.csv.")
    methods: list = _help("Requested value notions: label, axioms (text), efficient (bool).")
    baseline: dict = _help("v(empty): the model without any valued work: available, label, estimate and interval of "
                           "its macro score, and the total value v(N) - v(empty) with its interval.")
    accounting: list = _help("Accounting rows: grouping, method, share and interval of v(N) - v(empty) accounted for "
                             "by the sum of the method's values, complete (all groups valued), n_groups.")
    owen_chart: str = _help("Asset name of the Owen decomposition chart, or ''.")
    owen_split: str = _help("The split assumption for Owen values where within-group coalitions are not observed.")
    least_core: list = _help("Per grouping with a complete coalition table: subsidy e* with interval, total, and rows "
                             "(group, allocation, low, high) in report units.")
    rank_correlations: list = _help("Per grouping with 3+ groups and 2+ methods: methods and the Spearman matrix.")
    scenarios: dict = _help("Scenarios: available (list of name, description, grouping, method, pool text, flags, "
                            "total with interval), unavailable (name, reason), rows (claimant x scenario amounts with "
                            "intervals, largest first), n_hidden, currency.")
    significance: dict = _help("Tests and power (empty when not computed): margin (report units or None), "
                               "classification rows per grouping, counts, multiple-testing rows, power grids per "
                               "benchmark, per-work seed scaling rows, rank-stability tables.")
    scenario_chart: str = _help("Asset name of the scenario chart, or ''.")
    tornado_chart: str = _help("Asset name of the sensitivity (tornado) chart, or ''.")
    page_size: str = _help("CSS page size: 'Letter' or 'A4'.")
    bates: dict = _help("Bates numbering (prefix, start, digits) or an empty dict when off.")


def context_fields() -> dict[str, str]:
    """Field name -> help text, for documentation and the contract test."""
    return {f.name: f.metadata.get("help", "") for f in fields(ReportContext)}


def _interval(row) -> dict:
    return {"estimate": float(row["estimate"]), "std_error": float(row["std_error"]),
            "ci_low": float(row["ci_low"]), "ci_high": float(row["ci_high"]),
            "mde": float(row["mde"]) if pd.notna(row["mde"]) else None,
            "interval": str(row["interval"]), "significant": bool(row["significant"])}


def make_context(analysis: Analysis, command_line: str, charts: dict[str, str], assessment=None,
                 allocations: dict | None = None) -> ReportContext:
    """Build the report context from an analysis.

    Parameters
    ----------
    analysis : Analysis
    command_line : str
        The command that produced the report (for the reproducibility appendix).
    charts : dict
        Chart key -> asset name, from :func:`expert.report.charts.make_charts`.
    """
    case, runs = analysis.case, analysis.runs
    scale, unit = _units(runs)
    settings = case.analysis.bootstrap
    matter = case.matter
    exhibits: list[Exhibit] = []

    def exhibit(key, title, kind, role="Summary (FRE 1006)"):
        item = Exhibit(len(exhibits) + 1, key, title, kind, role)
        exhibits.append(item)
        return item

    scaled = analysis.valuations.copy()
    for column in ("estimate", "std_error", "ci_low", "ci_high", "mde", "se_bootstrap", "se_analytic"):
        scaled[column] = scaled[column] * scale

    exhibit("inventory", "Data inventory: configurations, seeds, benchmarks and items", "table")
    exhibit("noise", "Noise floor: seed and item variation, standard errors and minimum detectable effects", "table")
    significance = _significance(assessment, scale, case.report.top_rows) if assessment is not None else None
    if significance and significance["power"]:
        exhibit("power", "Power: the minimum detectable effect for each number of seeds and items", "table")
    if significance and significance["per_work"]:
        exhibit("per_work", "Could this experiment have seen one work? Seeds needed for a group and for one of its works",
                "table")
    grouping_blocks = []
    for grouping in reversed(case.groupings):  # presentation order: coarsest first (sector -> publisher -> work)
        loo = scaled[(scaled["method"] == "loo") & (scaled["grouping"] == grouping.name)]
        macro = loo[loo["benchmark"] == MACRO].sort_values(["estimate", "group"], ascending=[False, True])
        block = {"name": grouping.name, "n_groups": len(grouping.groups), "n_valued": int(len(macro)),
                 "singletons": grouping.is_singletons, "rows": [], "n_hidden": 0, "by_benchmark": [],
                 "chart": charts.get(f"forest-{grouping.name}", ""), "exhibit": None, "benchmark_exhibit": None,
                 "unavailable": next((u.reason for u in analysis.unavailable if u.grouping == grouping.name), "")}
        if len(macro):
            block["exhibit"] = exhibit(f"loo-{grouping.name}",
                                       f"Leave-one-out value of each {grouping.name} (macro average over benchmarks)",
                                       "table+chart")
            shown = macro.head(case.report.top_rows)
            block["n_hidden"] = int(len(macro) - len(shown))
            block["rows"] = [{"group": str(row["group"]), "n_works": int(row["n_works"]),
                              "tokens": float(row["tokens"]) if pd.notna(row["tokens"]) else None, **_interval(row)}
                             for _, row in shown.iterrows()]
            if not grouping.is_singletons and len(runs.benchmarks) > 1:
                block["benchmark_exhibit"] = exhibit(f"bench-{grouping.name}",
                                                     f"Leave-one-out value of each {grouping.name}, by benchmark", "table")
                for _, row in shown.iterrows():
                    cells = []
                    for benchmark in runs.benchmarks:
                        match = loo[(loo["benchmark"] == benchmark) & (loo["group"] == row["group"])].iloc[0]
                        cells.append(_interval(match))
                    block["by_benchmark"].append({"group": str(row["group"]), "cells": cells})
        block["methods"] = _method_table(scaled, grouping, case.report.top_rows)
        if block["methods"]["columns"]:
            block["methods_exhibit"] = exhibit(
                f"methods-{grouping.name}", f"Value of each {grouping.name} under each value notion, with its share of "
                f"the total value", "table")
        else:
            block["methods_exhibit"] = None
        grouping_blocks.append(block)
    if significance:
        exhibit("classification", "Significance and equivalence: material, negligible, detectable but trivial, "
                "inconclusive", "table")
        exhibit("multiple", "Multiple testing: Holm (primary family), Benjamini-Hochberg and -Yekutieli (works), "
                "hierarchical gate", "table")
        if significance["ranks"]:
            exhibit("ranks_stability", "Rank stability: rank intervals and P(top-k) from the bootstrap", "table")
    accounting = _accounting_rows(analysis, scale)
    if accounting:
        exhibit("accounting", "Accounting: share of the total value v(N) − v(∅) accounted for by each method at each "
                "grouping", "table")
    owen_chart = charts.get("owen", "")
    if owen_chart:
        exhibit("owen", "Hierarchical (Owen) decomposition of the total value", "chart")
    cores = [_core_rows(core, scale) for core in analysis.least_core]
    if cores:
        exhibit("least_core", "Least core: the subsidy e* and each group's bargaining range", "table")
    correlations = _rank_correlations(scaled, case)
    if correlations:
        exhibit("ranks", "Rank correlation (Spearman) between value notions", "table")
    scenarios = _scenario_context(analysis, case.report.top_rows, allocations)
    if scenarios["available"]:
        exhibit("scenarios", "Counsel's scenarios: what each claimant receives under each bargaining structure",
                "table+chart")
        if charts.get("tornado"):
            exhibit("sensitivity", "Sensitivity of the largest claimant's amount to pool, split and method", "chart")
    exhibit("size", "Value against group size: works, publishers and sectors on one axis, with the noise band", "chart")
    gaps = _gaps(scaled)
    if gaps:
        exhibit("gap", "Grouping gap: leave-one-out of a group against the sum of its parts", "table+chart")

    configurations = []
    utilities = analysis.utilities
    for configuration in runs.configurations[:MAX_INVENTORY_ROWS]:
        macro = utilities[(utilities["benchmark"] == MACRO) & (utilities["configuration"] == configuration.label)]
        row = macro.iloc[0] if len(macro) else None
        configurations.append({
            "label": configuration.label or "(full model)",
            "description": configuration.describe(),
            "n_removed": len(configuration.removed),
            "n_seeds": len(configuration.seeds),
            "utility": {k: v * scale for k, v in _interval(row).items() if k in ("estimate", "ci_low", "ci_high", "std_error")}
            if row is not None else None,
        })
    noise = []
    for _, row in analysis.noise.iterrows():
        noise.append({"benchmark": row["benchmark"], "n_seeds": int(row["n_seeds"]), "n_items": int(row["n_items"]),
                      "full_model_score": row["full_model_score"] * scale, "seed_sd": row["seed_sd"] * scale,
                      "item_sd": row["item_sd"] * scale, "median_std_error": row["median_std_error"] * scale,
                      "median_mde": row["median_mde"] * scale})

    evidence = {
        "simulated": case.evidence.simulated,
        "description": case.evidence.description,
        "n_configurations": runs.n_configurations,
        "n_seeds": len(runs.seeds),
        "seeds": list(runs.seeds),
        "n_benchmarks": len(runs.benchmarks),
        "n_items": [len(items) for items in runs.items] if runs.has_items else [0] * len(runs.benchmarks),
        "has_items": runs.has_items,
        "n_clusters": [int(c.max()) + 1 if c is not None else 0 for c in runs.clusters] if runs.clusters else [],
        "n_rows": runs.n_rows,
        "matched": runs.matched,
        "n_works": len(case.works),
        "unused_columns": list(runs.unused_columns),
        "source": runs.source.name,
    }
    bootstrap = {"resamples": settings.resamples, "seed": settings.seed, "interval": settings.interval,
                 "confidence": settings.confidence, "power": case.analysis.power,
                 "generator": "numpy.random.Generator(PCG64(SeedSequence(seed, spawn_key=(block,))))"}
    return ReportContext(
        matter={"title": matter.title, "date": matter.date.isoformat(), "caption": matter.caption, "court": matter.court,
                "docket": matter.docket, "confidentiality": matter.confidentiality, "assignment": matter.assignment},
        expert=matter.expert.model_dump(),
        assumptions=list(matter.assumptions_from_counsel),
        legend=matter.confidentiality or "",
        caption=matter.caption or matter.title,
        report_date=matter.date.isoformat(),
        evidence=evidence,
        unit=unit,
        scale=scale,
        confidence_pct=f"{settings.confidence * 100:g}",
        bootstrap=bootstrap,
        opinions=_opinions(scaled, case, runs, unit, settings.confidence, gaps, significance),
        exhibits=exhibits,
        exhibit={item.key: item for item in exhibits},
        noise=noise,
        groupings=grouping_blocks,
        gaps=gaps,
        size_chart=charts.get("size", ""),
        gap_chart=charts.get("gap", ""),
        configurations=configurations,
        benchmarks=list(runs.benchmarks),
        materials=[{"role": item.role, "name": item.path.name, "sha256": item.sha256, "size": item.size}
                   for item in case.inputs],
        unavailable=[{"grouping": u.grouping, "method": u.method, "reason": u.reason, "missing": list(u.missing[:20]),
                      "n_missing": max(u.n_missing, len(u.missing))} for u in analysis.unavailable],
        warnings=list(analysis.warnings),
        limitations=_limitations(analysis),
        reproducibility=_reproducibility(analysis, command_line),
        top_rows=case.report.top_rows,
        methods=[{"label": label, "axioms": _axioms(label), "efficient": label.split("(")[0] in ("shapley", "owen")}
                 for label in analysis.methods],
        baseline=_baseline(analysis, scale),
        accounting=accounting,
        owen_chart=owen_chart,
        owen_split=case.analysis.owen_split,
        least_core=cores,
        rank_correlations=correlations,
        scenarios=scenarios,
        significance=significance or {},
        scenario_chart=charts.get("scenarios", ""),
        tornado_chart=charts.get("tornado", ""),
        page_size="A4" if case.report.page_size == "a4" else "Letter",
        bates=case.report.bates.model_dump() if case.report.bates is not None else {},
    )


def _axioms(label: str) -> str:
    from ..valuation.semivalues import METHOD_AXIOMS

    return METHOD_AXIOMS.get(label.split("(")[0], "")


def _method_table(scaled: pd.DataFrame, grouping, top_rows: int) -> dict:
    """Group x method table (macro average) for the methods other than LOO that are available here."""
    macro = scaled[(scaled["benchmark"] == MACRO) & (scaled["grouping"] == grouping.name)]
    methods = [m for m in macro["method"].unique() if m not in ("sum_of_parts", "grouping_gap")]
    if len(methods) < 2:
        return {"columns": [], "rows": [], "assumption": ""}
    order = macro[macro["method"] == methods[0]].sort_values(["estimate", "group"], ascending=[False, True])
    groups = list(order["group"])[:top_rows]
    rows = []
    for group in groups:
        cells = []
        for method in methods:
            match = macro[(macro["method"] == method) & (macro["group"] == group)]
            if len(match):
                row = match.iloc[0]
                cell = _interval(row)
                cell["share"] = float(row["share"]) if pd.notna(row.get("share")) else None
                cell["share_low"] = float(row["share_low"]) if pd.notna(row.get("share_low")) else None
                cell["share_high"] = float(row["share_high"]) if pd.notna(row.get("share_high")) else None
                cells.append(cell)
            else:
                cells.append(None)
        rows.append({"group": str(group), "cells": cells})
    owen = macro[macro["method"] == "owen"]
    assumption = str(owen["assumption"].iloc[0]) if len(owen) and "assumption" in owen else ""
    return {"columns": methods, "rows": rows, "assumption": assumption,
            "n_hidden": max(0, len(order) - len(groups))}


def _accounting_rows(analysis: Analysis, scale: float) -> list:
    table = analysis.accounting
    if table is None or not len(table):
        return []
    macro = table[table["benchmark"] == MACRO]
    return [{"grouping": row["grouping"], "method": row["method"], "sum": row["sum"] * scale, "share": row["share"],
             "share_low": row["share_low"], "share_high": row["share_high"], "complete": bool(row["complete"]),
             "n_groups": int(row["n_groups"])} for _, row in macro.iterrows()]


def _baseline(analysis: Analysis, scale: float) -> dict:
    runs = analysis.runs
    empty = runs.find(frozenset(range(len(analysis.case.works))))
    if empty is None or not len(analysis.total_value):
        return {"available": False}
    utilities = analysis.utilities
    row = utilities[(utilities["benchmark"] == MACRO) & (utilities["configuration"] == runs.configurations[empty].label)].iloc[0]
    total = analysis.total_value[analysis.total_value["benchmark"] == MACRO].iloc[0]
    return {"available": True, "label": runs.configurations[empty].label,
            "estimate": row["estimate"] * scale, "ci_low": row["ci_low"] * scale, "ci_high": row["ci_high"] * scale,
            "total": {"estimate": total["estimate"] * scale, "ci_low": total["ci_low"] * scale,
                      "ci_high": total["ci_high"] * scale}}


def _core_rows(core: dict, scale: float) -> dict:
    return {"grouping": core["grouping"], "subsidy": core["subsidy"] * scale,
            "subsidy_low": core["subsidy_low"] * scale, "subsidy_high": core["subsidy_high"] * scale,
            "n_replicates": core["n_replicates"], "total": core["total"] * scale,
            "rows": [{"group": group, "allocation": a * scale, "low": lo * scale, "high": hi * scale}
                     for group, a, lo, hi in zip(core["groups"], core["allocation"], core["low"], core["high"])]}


def _rank_correlations(scaled: pd.DataFrame, case) -> list:
    from scipy import stats

    result = []
    macro = scaled[scaled["benchmark"] == MACRO]
    for grouping in reversed(case.groupings):
        here = macro[(macro["grouping"] == grouping.name) & ~macro["method"].isin(["sum_of_parts", "grouping_gap"])]
        pivot = here.pivot_table(index="group", columns="method", values="estimate")
        pivot = pivot.dropna(axis=1, how="any") if len(pivot) else pivot
        if pivot.shape[0] < 3 or pivot.shape[1] < 2:
            continue
        methods = list(pivot.columns)
        matrix = [[float(stats.spearmanr(pivot[a], pivot[b]).statistic) if a != b else 1.0 for b in methods]
                  for a in methods]
        result.append({"grouping": grouping.name, "methods": methods, "matrix": matrix, "n_groups": int(pivot.shape[0])})
    return result


def _scenario_context(analysis: Analysis, top_rows: int, allocations: dict | None = None) -> dict:
    from ..scenarios import Allocation, allocate_all, comparison

    empty = {"available": [], "unavailable": [], "rows": [], "n_hidden": 0, "currency": ""}
    if not analysis.case.scenarios:
        return empty
    allocations = allocations if allocations is not None else allocate_all(analysis)
    available = [name for name, result in allocations.items() if isinstance(result, Allocation)]
    unavailable = [{"name": name, "reason": result.reason} for name, result in allocations.items()
                   if not isinstance(result, Allocation)]
    if not available:
        return {**empty, "unavailable": unavailable}
    table = comparison(allocations)
    first = f"{available[0]}: amount"
    body = table[table["class"] != "TOTAL"].sort_values([first, "claimant"], ascending=[False, True])
    shown = body.head(top_rows)
    rows = []
    for _, row in pd.concat([shown, table[table["class"] == "TOTAL"]]).iterrows():
        rows.append({"class": row["class"], "claimant": row["claimant"],
                     "cells": [{"amount": row[f"{n}: amount"], "low": row[f"{n}: low"], "high": row[f"{n}: high"]}
                               for n in available]})
    described = []
    for name in available:
        result = allocations[name]
        spec = result.spec
        pool = (f"pool of {spec.pool.amount:,.0f} {spec.pool.currency}" if spec.pool.amount is not None
                else f"{spec.pool.rate:,.0f} {spec.pool.currency} per point of value")
        described.append({"name": name, "description": spec.description, "grouping": spec.grouping,
                          "method": spec.method, "split": spec.split, "pool": pool, "flags": list(result.flags),
                          "total": result.total})
    return {"available": described, "unavailable": unavailable, "rows": rows, "n_hidden": int(len(body) - len(shown)),
            "currency": allocations[available[0]].currency}


def _units(runs) -> tuple[float, str]:
    low = min(float(np.nanmin(scores)) for scores in runs.scores)
    high = max(float(np.nanmax(scores)) for scores in runs.scores)
    if low >= 0.0 and high <= 1.0:
        return 100.0, "points (score × 100)"
    return 1.0, "score units"


def _gaps(scaled: pd.DataFrame) -> list:
    macro = scaled[scaled["benchmark"] == MACRO]
    gap_rows = macro[macro["method"] == "grouping_gap"]
    result = []
    for _, row in gap_rows.iterrows():
        parts = macro[(macro["method"] == "sum_of_parts") & (macro["grouping"] == row["grouping"])
                      & (macro["group"] == row["group"]) & (macro["finer"] == row["finer"])].iloc[0]
        loo = macro[(macro["method"] == "loo") & (macro["grouping"] == row["grouping"]) & (macro["group"] == row["group"])].iloc[0]
        result.append({"grouping": row["grouping"], "group": str(row["group"]), "finer": row["finer"],
                       "n_parts": int(row["n_parts"]), "n_works": int(row["n_works"]),
                       "loo": _interval(loo), "sum_of_parts": _interval(parts), "gap": _interval(row)})
    return result


def _fmt(value: float) -> str:
    return f"{value:.3f}".replace("-", "−")


def _ci(row: dict) -> str:
    return f"[{_fmt(row['ci_low'])}, {_fmt(row['ci_high'])}]"


def _opinions(scaled, case, runs, unit, confidence, gaps, significance=None) -> list[str]:
    """Sentences of the summary of opinions, each carrying its interval (wording rules of METHODS B5)."""
    level = f"{confidence * 100:g}%"
    short_unit = "points" if unit.startswith("points") else "score units"
    macro = scaled[(scaled["method"] == "loo") & (scaled["benchmark"] == MACRO)]
    opinions = []
    if case.evidence.simulated:
        opinions.append("The ablation runs analysed in this report are simulated for illustration from stated assumptions; "
                        "they are not measurements of any trained model, and no opinion below is about a real model.")
    coarse_first = [grouping for grouping in reversed(case.groupings) if not grouping.is_singletons]
    for grouping in coarse_first:
        rows = macro[macro["grouping"] == grouping.name].sort_values(["estimate", "group"], ascending=[False, True])
        if not len(rows):
            continue
        top = rows.iloc[0]
        detected = int(rows["significant"].sum())
        opinions.append(
            f"At the {grouping.name} level, removing {grouping.name} {top['group']!s} ({int(top['n_works'])} works) lowers "
            f"the macro-average benchmark score by {_fmt(top['estimate'])} {short_unit}, {level} CI {_ci(_interval(top))}. "
            f"{detected} of {len(rows)} {grouping.name} removals have intervals that exclude zero."
        )
    singles = [grouping for grouping in case.groupings if grouping.is_singletons]
    for grouping in singles:
        rows = macro[macro["grouping"] == grouping.name]
        if not len(rows):
            continue
        top = rows.sort_values(["estimate", "group"], ascending=[False, True]).iloc[0]
        median_mde = float(rows["mde"].median())
        not_significant = int((~rows["significant"]).sum())
        mde_text = (f"the minimum detectable effect of a single-{grouping.name} comparison is about "
                    f"{_fmt(median_mde)} {short_unit}" if np.isfinite(median_mde) else
                    "the evidence has no replication, so its noise cannot be measured")
        opinions.append(
            f"Of {len(rows)} single {grouping.name}s removed one at a time, {not_significant} are not statistically "
            f"distinguishable from zero, and {mde_text}. That is a statement about the experiment's power, not a "
            f"measurement of what the {grouping.name}s are worth: the largest single-{grouping.name} estimate is "
            f"{_fmt(top['estimate'])} {short_unit}, {level} CI {_ci(_interval(top))}."
        )
    if gaps:
        best = max(gaps, key=lambda gap: gap["gap"]["estimate"])
        opinions.append(
            f"Value depends on grouping. Removing {best['grouping']} {best['group']} costs {_fmt(best['loo']['estimate'])} "
            f"{short_unit} ({level} CI {_ci(best['loo'])}), while the sum of removing its {best['n_parts']} "
            f"{best['finer']} parts one at a time is {_fmt(best['sum_of_parts']['estimate'])} ({level} CI "
            f"{_ci(best['sum_of_parts'])}): a grouping gap of {_fmt(best['gap']['estimate'])} {short_unit}, {level} CI "
            f"{_ci(best['gap'])}. Per-work leave-one-out values therefore cannot be added up to value a group."
        )
        positive = sum(gap["gap"]["ci_low"] > 0 for gap in gaps)
        opinions.append(f"{positive} of {len(gaps)} grouping gaps computed have intervals entirely above zero.")
    if significance:
        for block in significance["classification"]:
            counts = block["counts"]
            text = ", ".join(f"{n} {label}" for label, n in counts.items() if n)
            if significance["margin"] is not None:
                opinions.append(
                    f"Against the equivalence margin fixed in advance (±{_fmt(significance['margin'])} {short_unit}), "
                    f"the {block['n']} {block['grouping']} values classify as: {text}. A value is called negligible only "
                    f"when its 90% interval lies inside the margin; the smallest margin these data certify for any "
                    f"single {block['grouping']} is {_fmt(block['min_certified'])} {short_unit}.")
            else:
                opinions.append(f"No equivalence margin was fixed in advance, so no {block['grouping']} value can be "
                                f"called negligible; the {block['n']} values classify as: {text}.")
    return opinions


def _significance(assessment, scale: float, top_rows: int) -> dict:
    """Report rows of the tests, equivalence, multiple testing, power and rank stability."""
    tests = assessment.tests
    labels = ["material", "negligible", "detectable but trivial", "inconclusive"]
    classification = []
    for grouping, part in tests.groupby("grouping", sort=False):
        part = part.sort_values(["estimate", "group"], ascending=[False, True])
        counts = {label: int((part["classification"] == label).sum()) for label in labels}
        rows = [{"group": str(r["group"]), "estimate": r["estimate"] * scale, "p_value": r["p_value"],
                 "tost_p": r["tost_p"], "certified_margin": r["certified_margin"] * scale,
                 "classification": r["classification"], "mde": r["mde"] * scale if pd.notna(r["mde"]) else None}
                for _, r in part.head(top_rows).iterrows()]
        classification.append({"grouping": grouping, "n": int(len(part)), "counts": counts, "rows": rows,
                               "n_hidden": int(max(0, len(part) - top_rows)),
                               "min_certified": float(part["certified_margin"].min() * scale)})
    multiple = []
    for (grouping, family), part in tests.groupby(["grouping", "family"], sort=False):
        alpha = assessment.alpha
        multiple.append({"grouping": grouping, "family": family, "n": int(len(part)),
                         "raw": int((part["p_value"] < alpha).sum()),
                         "holm": int((part["p_holm"] < alpha).sum()) if part["p_holm"].notna().any() else None,
                         "bh": int((part["p_bh"] < alpha).sum()) if part["p_bh"].notna().any() else None,
                         "by": int((part["p_by"] < alpha).sum()) if part["p_by"].notna().any() else None,
                         "gate": int(part["gate_rejected"].sum())})
    power = []
    for benchmark, grid in assessment.power.items():
        power.append({"benchmark": benchmark, "seeds": grid["seeds"], "items": grid["items"],
                      "mde": [[value * scale for value in row] for row in grid["mde"]],
                      "item_floor": [value * scale for value in grid["item_floor"]], "n_items": grid["n_items"]})
    per_work = [{"grouping": r["grouping"], "group": str(r["group"]), "n_works": int(r["n_works"]),
                 "group_effect": r["group_effect"] * scale, "work_effect": r["work_effect"] * scale,
                 "seeds_for_group": r["seeds_for_group"] if np.isfinite(r["seeds_for_group"]) else None,
                 "seeds_for_work": r["seeds_for_work"] if np.isfinite(r["seeds_for_work"]) else None,
                 "below_item_floor": bool(r["below_item_floor"])}
                for _, r in assessment.per_work.sort_values("group_effect", ascending=False).head(top_rows).iterrows()]
    ranks = []
    for grouping, item in assessment.ranks.items():
        table = item["table"].head(top_rows)
        ranks.append({"grouping": grouping, "top_k": item["top_k"], "kendall_median": item["kendall_median"],
                      "kendall_p05": item["kendall_p05"], "n_near_ties": item["n_near_ties"],
                      "rows": [{"group": str(r["group"]), "estimate": r["estimate"] * scale,
                                "point_rank": int(r["point_rank"]), "rank_low": int(r["rank_low"]),
                                "rank_high": int(r["rank_high"]), "p_top_k": float(r["p_top_k"])}
                               for _, r in table.iterrows()],
                      "n_hidden": int(max(0, len(item["table"]) - top_rows))})
    aa = dict(assessment.aa)
    for key in ("low", "high", "max_abs"):
        if key in aa:
            aa[key] = aa[key] * scale
    return {"margin": assessment.margin * scale if assessment.margin is not None else None,
            "aa": aa, "alpha": assessment.alpha, "classification": classification, "multiple": multiple, "power": power,
            "per_work": per_work, "ranks": ranks}


def _limitations(analysis: Analysis) -> list[str]:
    runs, case = analysis.runs, analysis.case
    items = []
    if case.evidence.simulated:
        items.append("The runs are simulated for illustration. The analysis shows what the method yields on evidence of "
                     "this shape; it is not evidence about any real model or corpus.")
    if int(runs.seeds_per_configuration.min()) < 10:
        items.append(f"Configurations were trained with as few as {int(runs.seeds_per_configuration.min())} seeds. With few "
                     "seeds the bootstrap understates variance, so the larger of the bootstrap and analytic t-based "
                     "standard errors is used. In simulations with planted effects (bench/bench_coverage.py) nominal 95% "
                     "intervals covered about 92% with 3 seeds when seed noise dominates, and 97-99% when item noise "
                     "dominates (resampling seeds and items independently is conservative).")
    if not runs.has_items:
        items.append("The run table has no item-level scores, so benchmark-item sampling variance is not part of the "
                     "intervals and comparisons are not paired by item.")
    items.append("Leave-one-out measures the but-for effect of removing a group from a model otherwise trained as "
                 "described; it is not an apportionment rule and per-group values do not add up to the value of the data.")
    items.append("A value that is not statistically significant is reported with its minimum detectable effect; it is "
                 "not evidence that the value is zero. Calling a value negligible requires an equivalence test with a "
                 "margin fixed before the analysis, which this report does not perform.")
    if analysis.unavailable:
        items.append("Some groups could not be valued because the run table lacks their configurations (see Methods).")
    items.append("The bootstrap resamples seeds and items independently; for crossed designs this is mildly conservative "
                 "(Owen 2007).")
    return items


def _reproducibility(analysis: Analysis, command_line: str) -> dict:
    packages = {}
    for name in ("numpy", "scipy", "pandas", "pyarrow", "matplotlib", "jinja2", "weasyprint", "pydantic", "pyyaml", "click"):
        try:
            packages[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            packages[name] = "not installed"
    return {
        "expert_version": __version__,
        "python": sys.version.split()[0],
        "platform": f"{platform.system()} {platform.machine()}",
        "packages": packages,
        "command_line": command_line,
        "bootstrap_seed": analysis.case.analysis.bootstrap.seed,
        "training_seeds": list(analysis.runs.seeds),
    }
