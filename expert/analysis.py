"""Run every requested valuation at every grouping, with crossed-bootstrap uncertainty.

:func:`analyse` is the heart of the pipeline: it stacks the weight matrices of
every valuation (LOO of each group at each grouping, the grouping gaps, and the
utility of each configuration), runs one crossed bootstrap of the
configuration utilities, and summarises every row on every benchmark and on
the macro average (benchmark ``all``) from the same replicates.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .case import Case
from .design import Design, make_design
from .errors import EvidenceError
from .evidence import RunTable
from .stats.bootstrap import DegenerateIntervalWarning, UtilityBootstrap, crossed_bootstrap, summarise
from .valuation import Valuation, grouping_gap, leave_one_out, stack

__all__ = ["Analysis", "Unavailable", "analyse", "MACRO"]

MACRO = "all"
VALUATION_COLUMNS = ["grouping", "group", "method", "benchmark", "estimate", "std_error", "ci_low", "ci_high",
                     "interval", "mde", "se_bootstrap", "se_analytic", "significant", "n_works", "tokens",
                     "configuration", "finer", "n_parts"]


@dataclass(frozen=True)
class Unavailable:
    """A method that the evidence cannot support at a grouping, and why."""

    grouping: str
    method: str
    reason: str
    missing: tuple[str, ...] = ()


@dataclass(frozen=True)
class Analysis:
    """Everything the report and the data outputs need, computed from the evidence.

    Attributes
    ----------
    case : Case
    runs : RunTable
    design : Design
    bootstrap : UtilityBootstrap
        Replicates of every configuration's utility (kept for allocations and audits).
    valuations : pandas.DataFrame
        One row per (valued quantity, benchmark); columns :data:`VALUATION_COLUMNS`.
        ``method`` is ``loo``, ``sum_of_parts`` or ``grouping_gap``. Units are score units.
    utilities : pandas.DataFrame
        The mean score of every configuration per benchmark, with its interval.
    noise : pandas.DataFrame
        Per benchmark: seeds, items, seed SD of the full model, the paired item SD
        (median over configurations of the SD over items of the seed-averaged
        difference from the full model), and the
        median standard error and MDE of the leave-one-out comparisons.
    unavailable : tuple of Unavailable
    warnings : tuple of str
    """

    case: Case
    runs: RunTable
    design: Design
    bootstrap: UtilityBootstrap = field(repr=False)
    valuations: pd.DataFrame = field(repr=False)
    utilities: pd.DataFrame = field(repr=False)
    noise: pd.DataFrame = field(repr=False)
    unavailable: tuple[Unavailable, ...]
    warnings: tuple[str, ...]

    @property
    def benchmarks(self) -> tuple[str, ...]:
        """Benchmark names, then ``all`` (the macro average)."""
        return self.runs.benchmarks + (MACRO,)

    def values(self, method: str = "loo", grouping: str | None = None, benchmark: str = MACRO) -> pd.DataFrame:
        """Rows of :attr:`valuations` for one method, grouping and benchmark."""
        frame = self.valuations
        mask = (frame["method"] == method) & (frame["benchmark"] == benchmark)
        if grouping is not None:
            mask &= frame["grouping"] == grouping
        return frame[mask].reset_index(drop=True)


def analyse(case: Case, runs: RunTable, progress=None) -> Analysis:
    """Value the evidence at every grouping.

    Parameters
    ----------
    case : Case
    runs : RunTable
    progress : callable, optional
        Called with a short message before each long step.

    Returns
    -------
    Analysis

    Raises
    ------
    EvidenceError
        When the run table has no full model (nothing removed), so no
        leave-one-out value can be computed.
    """
    say = progress or (lambda message: None)
    design = make_design(case, runs)
    if design.full is None:
        raise EvidenceError(f"{runs.source.name}: removed: expected a full model (runs with an empty `removed` cell), "
                            f"found only configurations that remove works")
    n_configs = runs.n_configurations
    loo = leave_one_out(case, design, n_configs)
    gaps = grouping_gap(case, design, n_configs)
    identity = Valuation(
        pd.DataFrame({"grouping": "configuration", "group": [c.label for c in runs.configurations], "method": "utility",
                      "configuration": np.arange(n_configs)}),
        sp.csr_array(sp.identity(n_configs, format="csr")),
    )
    valued = stack([loo, gaps, identity], n_configs)

    settings = case.analysis.bootstrap
    say(f"crossed bootstrap: {settings.resamples} replicates x {n_configs} configurations x "
        f"{len(runs.seeds)} seeds x {sum(len(items) for items in runs.items)} items")
    boot = crossed_bootstrap(runs.scores, runs.seed_mask, settings.resamples, settings.seed)
    say("intervals and minimum detectable effects")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateIntervalWarning)
        summaries = summarise(valued.weights, boot, confidence=settings.confidence, interval=settings.interval,
                              power=case.analysis.power)

    tokens = _group_tokens(case)
    frames = []
    for benchmark, summary in zip(runs.benchmarks + (MACRO,), summaries):
        frame = valued.rows.copy()
        frame["benchmark"] = benchmark
        frame["estimate"] = summary.estimate
        frame["std_error"] = summary.std_error
        frame["ci_low"] = summary.ci_low
        frame["ci_high"] = summary.ci_high
        frame["interval"] = summary.interval
        frame["mde"] = summary.mde
        frame["se_bootstrap"] = summary.se_bootstrap
        frame["se_analytic"] = summary.se_analytic
        frame["bca_fallback"] = summary.bca_fallback
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    table["significant"] = (table["ci_low"] > 0) | (table["ci_high"] < 0)
    table["tokens"] = [tokens.get((g, group), np.nan) for g, group in zip(table["grouping"], table["group"])]
    labels = np.array([c.label for c in runs.configurations], dtype=object)
    config = table["configuration"]
    table["configuration"] = np.where(config.notna(), labels[config.fillna(0).astype(int)], "")
    for column in ("finer",):
        table[column] = table[column].fillna("") if column in table else ""
    for column in ("n_parts", "n_works"):
        table[column] = table[column].astype("Int64") if column in table else pd.array([pd.NA] * len(table), "Int64")

    is_utility = table["method"] == "utility"
    utilities = table[is_utility].reset_index(drop=True)
    utilities = utilities.assign(n_removed=[len(runs.configurations[i].removed) for i in np.tile(np.arange(n_configs), len(runs.benchmarks) + 1)])
    valuations = table[~is_utility].reset_index(drop=True)
    fallbacks = int(valuations["bca_fallback"].sum())
    valuations = valuations[[c for c in VALUATION_COLUMNS if c in valuations]]

    notes = []
    if fallbacks:
        notes.append(f"BCa was degenerate for {fallbacks} value-benchmark pair(s); the percentile interval is used there.")
    degenerate = valuations[valuations["interval"] == "degenerate"]
    if len(degenerate):
        shown = ", ".join(sorted({f"{row.grouping} {row.group} ({row.benchmark})" for row in degenerate.head(5).itertuples()}))
        notes.append(f"{len(degenerate)} value-benchmark pair(s) have identical scores on every seed and item in both "
                     f"configurations (e.g. {shown}): every bootstrap replicate is equal, the interval is the point and no "
                     "minimum detectable effect can be computed from them.")
    if (valuations["interval"] == "exact").any():
        notes.append("Some values have no replication noise (one seed and no item-level scores): they are exact for this "
                     "evidence and their intervals are degenerate; noise could not be measured.")
    if not runs.matched:
        notes.append("Seeds are not matched across configurations: seeds were resampled per configuration.")
    if int(runs.seeds_per_configuration.min()) < 10:
        notes.append("Fewer than 10 seeds per configuration: the analytic t-based standard error was also computed and "
                     "the larger of the two is used (METHODS B2).")
    return Analysis(case=case, runs=runs, design=design, bootstrap=boot, valuations=valuations, utilities=utilities,
                    noise=_noise(runs, boot, valuations), unavailable=_unavailable(case, design),
                    warnings=tuple(notes))


def _group_tokens(case: Case) -> dict:
    if "tokens" not in case.works.columns:
        return {}
    tokens = pd.to_numeric(case.works["tokens"], errors="coerce").to_numpy(dtype=float)
    if not np.all(np.isfinite(tokens)):
        return {}
    result = {}
    for grouping in case.groupings:
        totals = np.bincount(grouping.membership, weights=tokens, minlength=len(grouping.groups))
        for group, total in zip(grouping.groups, totals):
            result[(grouping.name, group)] = float(total)
    return result


def _unavailable(case: Case, design: Design) -> tuple[Unavailable, ...]:
    result = []
    for coverage in design.coverage:
        missing = coverage.missing
        if missing:
            reason = (f"{len(missing)} of {len(coverage.groups)} groups have no leave-one-out configuration in the run table"
                      if coverage.n_available else "no leave-one-out configuration of any group is in the run table")
            result.append(Unavailable(coverage.grouping, "loo", reason, tuple(missing)))
    return tuple(result)


def _noise(runs: RunTable, boot: UtilityBootstrap, valuations: pd.DataFrame) -> pd.DataFrame:
    full = runs.full
    records = []
    others = [c.index for c in runs.configurations if c.index != full]
    for k, benchmark in enumerate(runs.benchmarks + (MACRO,)):
        if k < len(runs.benchmarks):
            seed_values = boot.seed_means[k, full]
            # sigma_d of METHODS B1: SD over items of the paired difference of seed-averaged scores,
            # full model minus each other configuration; the median over configurations
            means = boot.item_means[k]
            item_sd = (float(np.median((means[full][None, :] - means[others]).std(axis=1, ddof=1)))
                       if runs.has_items and others and means.shape[1] > 1 else np.nan)
            n_items = len(runs.items[k])
        else:
            seed_values = boot.seed_means[:, full].mean(axis=0)  # NaN (dropped below) where the seed was not run
            item_sd, n_items = np.nan, sum(len(items) for items in runs.items)
        seed_values = seed_values[np.isfinite(seed_values)]
        loo = valuations[(valuations["method"] == "loo") & (valuations["benchmark"] == benchmark)]
        records.append({
            "benchmark": benchmark,
            "n_seeds": int(len(seed_values)),
            "n_items": int(n_items) if runs.has_items else 0,
            "full_model_score": float(boot.utilities[:, full].mean()) if k == len(runs.benchmarks) else float(boot.utilities[k, full]),
            "seed_sd": float(np.std(seed_values, ddof=1)) if len(seed_values) > 1 else np.nan,
            "item_sd": item_sd,
            "median_std_error": float(loo["std_error"].median()) if len(loo) else np.nan,
            "median_mde": float(loo["mde"].median()) if len(loo) else np.nan,
        })
    return pd.DataFrame.from_records(records)
