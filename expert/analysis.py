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
from .valuation.coalitions import (MAX_LEAST_CORE_PLAYERS, exact_semivalue, least_core, least_core_subsidy,
                                   owen_values, parse_method)
from .valuation.sampling import SampledValuation, sampled_values
from .valuation.weights import Unavailable

__all__ = ["Analysis", "Unavailable", "analyse", "MACRO"]

MACRO = "all"
VALUATION_COLUMNS = ["grouping", "group", "method", "benchmark", "estimate", "std_error", "ci_low", "ci_high",
                     "interval", "mde", "se_bootstrap", "se_analytic", "significant", "share", "share_low",
                     "share_high", "n_works", "tokens", "configuration", "finer", "n_parts", "assumption"]
EFFICIENT = ("shapley", "owen")
ANALYTIC_ALWAYS = 10**9


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
    accounting : pandas.DataFrame
        Share of the total value v(N) - v(empty) accounted for by the sum of each
        method's values at each grouping, per benchmark, with percentile intervals.
    least_core : tuple of dict
        Per grouping with a complete coalition table: subsidy e* (with interval),
        the minimum-norm allocation and each group's bargaining range (macro average).
    total_value : pandas.DataFrame
        v(N) - v(empty) per benchmark with its interval, when the evidence has the
        configuration without any work (empty when it has not).
    valued : Valuation
        Every linear quantity (rows and weights over configurations), so that
        allocations can be recomputed on every replicate.
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
    accounting: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    valued: Valuation | None = field(default=None, repr=False)
    least_core: tuple = ()
    total_value: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)

    @property
    def methods(self) -> tuple[str, ...]:
        """Method labels as requested in the case (loo is always computed)."""
        labels = [parse_method(m).label for m in self.case.analysis.methods]
        return tuple(dict.fromkeys(["loo"] + labels))

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
    methods = [parse_method(m) for m in case.analysis.methods]
    unavailable = list(_unavailable(case, design))
    method_valuations = []
    sampled_blocks = []  # (first row in the stacked valuation, SampledValuation)
    for grouping in case.groupings:
        for method in methods:
            if method.name in ("shapley", "banzhaf", "beta"):
                result = exact_semivalue(case, design, grouping.name, method, n_configs)
                spec = case.analysis.sampling.get(grouping.name)
                if isinstance(result, Unavailable) and spec is not None and method.name != "beta":
                    sampled = sampled_values(case, design, grouping.name, method.name, spec, n_configs)
                    if isinstance(sampled, SampledValuation):
                        sampled_blocks.append((sum(len(v) for v in [loo, gaps] + method_valuations), sampled))
                        result = sampled.valuation
                    else:
                        result = sampled
            elif method.name == "owen":
                result = owen_values(case, design, grouping.name, case.analysis.owen_split, n_configs)
            else:
                continue
            (unavailable if isinstance(result, Unavailable) else method_valuations).append(result)
    valued = stack([loo, gaps] + method_valuations + [identity], n_configs)

    settings = case.analysis.bootstrap
    say(f"crossed bootstrap: {settings.resamples} replicates x {n_configs} configurations x "
        f"{len(runs.seeds)} seeds x {sum(len(items) for items in runs.items)} items")
    boot = crossed_bootstrap(runs.scores, runs.seed_mask, settings.resamples, settings.seed,
                             clusters=runs.clusters or None)
    say("intervals and minimum detectable effects")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateIntervalWarning)
        # the analytic SE is always computed and the larger SE used: the coverage study (bench/bench_coverage.py)
        # found the bootstrap alone short at 10 seeds, not only below (METHODS B2 says below 10)
        summaries = summarise(valued.weights, boot, confidence=settings.confidence, interval=settings.interval,
                              power=case.analysis.power, analytic_below=ANALYTIC_ALWAYS)

    if sampled_blocks:
        _fold_sampling(summaries, sampled_blocks, boot, settings.confidence, case.analysis.power)
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
    empty = runs.find(frozenset(range(len(case.works))))
    total_value = pd.DataFrame()
    if empty is not None:
        say("shares of the total value")
        valuations, total_value = _shares(valued, table, boot, design.full, empty, runs, settings.confidence)
    for column in ("share", "share_low", "share_high"):
        if column not in valuations:
            valuations[column] = np.nan
    if "assumption" not in valuations:
        valuations["assumption"] = ""
    valuations["assumption"] = valuations["assumption"].fillna("")
    valuations = valuations[[c for c in VALUATION_COLUMNS if c in valuations]]
    accounting = _accounting(case, design, valued, boot, empty, runs, settings.confidence)
    cores = tuple(_least_cores(case, design, boot, runs, methods, unavailable, settings.confidence))

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
    notes.append("The analytic t-based standard error (seed and item components, Satterthwaite degrees of freedom) "
                 "is computed beside the bootstrap one and the larger is used, widening the interval where needed: "
                 "the bootstrap understates variance with few seeds (METHODS B2), and a coverage study found it short "
                 "at 10 seeds as well.")
    return Analysis(case=case, runs=runs, design=design, bootstrap=boot, valuations=valuations, utilities=utilities,
                    noise=_noise(runs, boot, valuations), unavailable=tuple(unavailable), warnings=tuple(notes),
                    accounting=accounting, least_core=cores, total_value=total_value, valued=valued)


def _fold_sampling(summaries, sampled_blocks, boot, confidence, power):
    """Add the sampling variance of sampled designs to the standard errors, intervals and MDEs (METHODS A2-A3)."""
    from scipy import stats

    z = stats.norm.ppf(1 - (1 - confidence) / 2)
    z_mde = z + stats.norm.ppf(power)
    for k, summary in enumerate(summaries):
        point = boot.utilities[k] if k < boot.n_benchmarks else boot.utilities.mean(axis=0)
        for start, sampled in sampled_blocks:
            rows = slice(start, start + len(sampled.valuation))
            variance = sampled.sampling_variance(point)
            total = np.sqrt(summary.std_error[rows] ** 2 + variance)
            estimate = summary.estimate[rows]
            summary.ci_low[rows] = np.minimum(summary.ci_low[rows], estimate - z * total)
            summary.ci_high[rows] = np.maximum(summary.ci_high[rows], estimate + z * total)
            summary.std_error[rows] = total
            summary.mde[rows] = z_mde * total
            summary.interval[rows] = [f"{label}+sampling" for label in summary.interval[rows]]


def _macro_replicates(boot: UtilityBootstrap) -> np.ndarray:
    return boot.replicates.mean(axis=0)


def _per_benchmark(boot: UtilityBootstrap):
    """(benchmark index or None for the macro average, point utilities, replicate utilities)."""
    for k in range(boot.n_benchmarks):
        yield k, boot.utilities[k], boot.replicates[k]
    yield None, boot.utilities.mean(axis=0), _macro_replicates(boot)


def _ratio_interval(numerator_point, numerator_reps, denominator_point, denominator_reps, confidence):
    """Point ratio and percentile interval; NaN where the denominator is zero (a share of nothing is undefined)."""
    alpha = 1 - confidence
    with np.errstate(divide="ignore", invalid="ignore"):
        point = np.where(denominator_point != 0, numerator_point / denominator_point, np.nan)
        ratios = np.where(denominator_reps != 0, numerator_reps / denominator_reps, np.nan)
    ratios = np.where(np.isfinite(ratios), ratios, np.nan)
    if ratios.shape[-1] < 2:
        return point, point, point
    defined = ~np.all(np.isnan(ratios), axis=-1)
    low = np.full(ratios.shape[:-1], np.nan)
    high = np.full(ratios.shape[:-1], np.nan)
    if np.any(defined):
        low[defined] = np.nanquantile(ratios[defined], alpha / 2, axis=-1)
        high[defined] = np.nanquantile(ratios[defined], 1 - alpha / 2, axis=-1)
    return point, low, high


def _shares(valued: Valuation, table: pd.DataFrame, boot, full: int, empty: int, runs, confidence):
    """Each value as a share of the total value v(N) - v(empty), with percentile intervals per replicate."""
    contrast = np.zeros(boot.utilities.shape[1])
    contrast[full], contrast[empty] = 1.0, -1.0
    shares, totals = [], []
    for k, point, reps in _per_benchmark(boot):
        total_point, total_reps = contrast @ point, contrast @ reps
        share, low, high = _ratio_interval(valued.weights @ point, valued.weights @ reps, total_point, total_reps,
                                           confidence)
        shares.append((share, low, high))
        alpha = 1 - confidence
        totals.append({"benchmark": runs.benchmarks[k] if k is not None else MACRO, "estimate": float(total_point),
                       "std_error": float(total_reps.std(ddof=1)) if total_reps.size > 1 else 0.0,
                       "ci_low": float(np.quantile(total_reps, alpha / 2)),
                       "ci_high": float(np.quantile(total_reps, 1 - alpha / 2))})
    share = np.concatenate([item[0] for item in shares])
    low = np.concatenate([item[1] for item in shares])
    high = np.concatenate([item[2] for item in shares])
    keep = (table["method"] != "utility").to_numpy()
    valuations = table[keep].reset_index(drop=True)
    valuations["share"], valuations["share_low"], valuations["share_high"] = share[keep], low[keep], high[keep]
    return valuations, pd.DataFrame.from_records(totals)


def _accounting(case, design, valued: Valuation, boot, empty, runs, confidence) -> pd.DataFrame:
    """Share of v(N) - v(empty) accounted for by the sum of each method's values at each grouping."""
    columns = ["grouping", "method", "benchmark", "sum", "share", "share_low", "share_high", "complete", "n_groups"]
    if empty is None:
        return pd.DataFrame(columns=columns)
    rows = valued.rows
    records = []
    contrast = np.zeros(boot.utilities.shape[1])
    contrast[design.full], contrast[empty] = 1.0, -1.0
    for grouping in case.groupings:
        for method in rows.loc[rows["grouping"] == grouping.name, "method"].unique():
            if method in ("utility", "sum_of_parts", "grouping_gap"):
                continue
            selected = np.flatnonzero(((rows["grouping"] == grouping.name) & (rows["method"] == method)).to_numpy())
            complete = len(selected) == len(grouping.groups)
            summed = np.asarray(valued.weights[selected].sum(axis=0)).ravel()
            for k, point, reps in _per_benchmark(boot):
                share, low, high = _ratio_interval(np.array([summed @ point]), (summed @ reps)[None, :],
                                                   contrast @ point, contrast @ reps, confidence)
                records.append({"grouping": grouping.name, "method": method,
                                "benchmark": runs.benchmarks[k] if k is not None else MACRO,
                                "sum": float(summed @ point), "share": float(share[0]), "share_low": float(low[0]),
                                "share_high": float(high[0]), "complete": complete, "n_groups": int(len(selected))})
    return pd.DataFrame.from_records(records, columns=columns)


MAX_LEAST_CORE_REPLICATES = 999


def _least_cores(case, design, boot, runs, methods, unavailable, confidence):
    if not any(method.name == "least_core" for method in methods):
        return []
    results = []
    point = boot.utilities.mean(axis=0)
    reps = _macro_replicates(boot)
    alpha = 1 - confidence
    for grouping in case.groupings:
        k = len(grouping.groups)
        table = design.coalition_table(grouping.name)
        if k < 2:
            unavailable.append(Unavailable(grouping.name, "least_core", f"the least core needs at least 2 groups; "
                                           f"{grouping.name} has {k}"))
            continue
        if k > MAX_LEAST_CORE_PLAYERS:
            unavailable.append(Unavailable(grouping.name, "least_core", f"the least core is computed for at most "
                                           f"{MAX_LEAST_CORE_PLAYERS} groups; {grouping.name} has {k}"))
            continue
        masks = np.arange(1 << k)
        all_missing = [int(mask) for mask in masks if int(mask) not in table]
        missing, n_missing = all_missing[:1000], len(all_missing)
        if missing:
            from .valuation.semivalues import coalition_label

            unavailable.append(Unavailable(grouping.name, "least_core", f"the least core needs all {1 << k} coalitions "
                                           f"of the {k} {grouping.name} groups; the run table has {(1 << k) - n_missing}",
                                           tuple(coalition_label(m, grouping.groups, grouping.name) for m in missing),
                                           n_missing))
            continue
        columns = np.array([table[int(mask)] for mask in masks])
        core = least_core(point[columns], k)
        draws = reps[columns][:, :MAX_LEAST_CORE_REPLICATES]
        subsidies = np.array([least_core_subsidy(draws[:, b], k)[0] for b in range(draws.shape[1])])
        results.append({"grouping": grouping.name, "groups": list(grouping.groups), "subsidy": core.subsidy,
                        "subsidy_low": float(np.quantile(subsidies, alpha / 2)),
                        "subsidy_high": float(np.quantile(subsidies, 1 - alpha / 2)),
                        "n_replicates": int(draws.shape[1]), "allocation": core.allocation.tolist(),
                        "low": core.low.tolist(), "high": core.high.tolist(),
                        "total": float(point[columns[-1]] - point[columns[0]])})
    return results


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
            result.append(Unavailable(coverage.grouping, "loo", reason, tuple(missing[:20]), len(missing)))
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
