"""Call a value negligible only when the data show it (METHODS.md B4-B7).

:func:`assess` takes an :class:`~expert.analysis.Analysis` and adds, for the
leave-one-out value of every group (macro average):

- a two-sided p-value from estimate / SE (never from bootstrap tail counts);
- the TOST equivalence test against the margin the case fixed in advance
  (``analysis.equivalence_margin``), the tightest certified margin epsilon*, and the
  classification material / negligible / detectable but trivial / inconclusive;
- multiple testing: Holm over the primary family (every grouping that is not
  per-work), Benjamini-Hochberg and -Yekutieli over the per-work screen, and
  the hierarchical gate (coarsest grouping first, then the groups inside
  rejected ones);
- rank intervals and P(top-k) from the same bootstrap replicates;
- a power grid per benchmark (seeds x items -> MDE), the item floor, and the
  seeds needed to detect one work when a group's effect is spread over its works;
- the A/A noise floor: every pair of full-model runs (same data, different seeds) is an
  A/A comparison; their differences give an empirical null band, and the share of pairs
  a paired-item test (which ignores seed variance) would call significant is the
  false-positive rate of such an analysis.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .analysis import MACRO, Analysis
from .stats import (benjamini_hochberg, benjamini_yekutieli, certified_margin, classify, hierarchical_gate, holm,
                    null_band, per_work_scaling, power_grid, rank_stability, tost, two_sided_p)

__all__ = ["Assessment", "assess"]


@dataclass(frozen=True)
class Assessment:
    """Significance, equivalence, multiple testing, ranks and power for the LOO values.

    Attributes
    ----------
    margin : float or None
        The pre-specified equivalence margin (macro average, score units), or None.
    tests : pandas.DataFrame
        One row per LOO value (macro average): grouping, group, estimate, std_error, p_value,
        significant, tost_p, equivalent, certified_margin, classification, family, p_holm,
        p_bh, p_by, gate_rejected.
    ranks : dict
        Grouping -> RankStabilityResult-derived table (group, point_rank, rank_low, rank_high, p_top_k).
    power : dict
        Benchmark -> power grid table (seeds, items, mde), with the item floor.
    per_work : pandas.DataFrame
        Per non-singleton group: work effect LOO(G)/|G|, seeds to detect the group and one work.
    """

    margin: float | None
    tests: pd.DataFrame = field(repr=False)
    ranks: dict = field(repr=False)
    power: dict = field(repr=False)
    per_work: pd.DataFrame = field(repr=False)
    alpha: float = 0.05
    aa: dict = field(default_factory=dict, repr=False)
    """A/A noise floor (macro average): n_pairs, band low/high, false positives of a paired-item test, rate."""


def _margin(analysis: Analysis) -> float | None:
    margin = analysis.case.analysis.equivalence_margin
    if margin is None:
        return None
    if isinstance(margin, dict):
        return float(margin.get(MACRO, np.mean(list(margin.values()))))
    return float(margin)


def assess(analysis: Analysis) -> Assessment:
    """Tests, equivalence, multiple testing, ranks and power for the analysis's LOO values."""
    case = analysis.case
    alpha = 1 - case.analysis.bootstrap.confidence
    margin = _margin(analysis)
    loo = analysis.values("loo").copy()
    tests = _tests(loo, margin, alpha)
    tests = _multiple(case, tests, alpha)
    return Assessment(margin=margin, tests=tests, ranks=_ranks(analysis, alpha), power=_power(analysis, alpha),
                      per_work=_per_work(analysis, alpha), alpha=alpha, aa=_aa(analysis, alpha))


def _aa(analysis: Analysis, alpha: float) -> dict:
    """A/A pairs of full-model runs: empirical band and the false-positive rate of a paired-item test."""
    runs = analysis.runs
    full = runs.full
    seeds = np.flatnonzero(runs.seed_mask[full])
    if len(seeds) < 2:
        return {}
    differences, item_errors = [], []
    for i, a in enumerate(seeds):
        for b in seeds[i + 1:]:
            diff, variance = 0.0, 0.0
            for scores in runs.scores:
                d = scores[full, a] - scores[full, b]  # paired by item
                diff += d.mean()
                variance += d.var(ddof=1) / d.size if d.size > 1 else 0.0
            k = len(runs.scores)
            differences.append(diff / k)
            item_errors.append(np.sqrt(variance) / k)
    band = null_band(np.array(differences), np.array(item_errors), confidence=1 - alpha)
    return {"n_pairs": len(differences), "low": float(band.low), "high": float(band.high),
            "n_false_positives": band.n_false_positives, "false_positive_rate": float(band.false_positive_rate),
            "max_abs": float(np.max(np.abs(differences)))}


def _tests(loo: pd.DataFrame, margin: float | None, alpha: float) -> pd.DataFrame:
    estimate = loo["estimate"].to_numpy(float)
    se = loo["std_error"].to_numpy(float)
    p = np.asarray(two_sided_p(estimate, se), dtype=float)
    significant = p < alpha
    star = np.asarray(certified_margin(estimate, se, alpha=alpha), dtype=float)
    if margin is not None:
        result = tost(estimate, se, margin, alpha=alpha)
        tost_p = np.asarray(result.pvalue, dtype=float)
        equivalent = np.asarray(result.equivalent, dtype=bool)
    else:
        tost_p = np.full(len(loo), np.nan)
        equivalent = np.zeros(len(loo), dtype=bool)
    labels = np.asarray(classify(significant, equivalent))
    frame = loo[["grouping", "group", "n_works", "estimate", "std_error", "mde"]].copy()
    frame["p_value"], frame["significant"] = p, significant
    frame["tost_p"], frame["equivalent"] = tost_p, equivalent
    frame["certified_margin"], frame["classification"] = star, labels
    return frame.reset_index(drop=True)


def _multiple(case, tests: pd.DataFrame, alpha: float) -> pd.DataFrame:
    singles = {g.name for g in case.groupings if g.is_singletons}
    tests["family"] = np.where(tests["grouping"].isin(singles), "screen (works)", "primary")
    for column in ("p_holm", "p_bh", "p_by"):
        tests[column] = np.nan
    primary = (tests["family"] == "primary").to_numpy()
    if primary.any():
        tests.loc[primary, "p_holm"] = holm(tests.loc[primary, "p_value"].to_numpy(), alpha).adjusted
    screen = ~primary
    if screen.any():
        tests.loc[screen, "p_bh"] = benjamini_hochberg(tests.loc[screen, "p_value"].to_numpy(), alpha).adjusted
        tests.loc[screen, "p_by"] = benjamini_yekutieli(tests.loc[screen, "p_value"].to_numpy(), alpha).adjusted
    tests["gate_rejected"] = False
    chain = _nested_chain(case)
    if len(chain) >= 2:
        levels, parents, indices = [], [], []
        previous = None
        for grouping in chain:  # coarsest first
            rows = tests.index[tests["grouping"] == grouping.name].to_numpy()
            if not len(rows):
                break
            levels.append(tests.loc[rows, "p_value"].to_numpy())
            indices.append(rows)
            if previous is not None:
                coarse_grouping, coarse_rows = previous
                coarse_groups = list(tests.loc[coarse_rows, "group"])
                parent_index = []
                for group in tests.loc[rows, "group"]:
                    member = grouping.members(str(group))[0]
                    parent_name = coarse_grouping.groups[int(coarse_grouping.membership[member])]
                    parent_index.append(coarse_groups.index(parent_name) if parent_name in coarse_groups else -1)
                parents.append(np.asarray(parent_index))
            previous = (grouping, rows)
        if len(levels) >= 2 and all((p >= 0).all() for p in parents):
            result = hierarchical_gate(levels, parents, alpha=alpha)
            for rows, level in zip(indices, result.levels):
                tests.loc[rows, "gate_rejected"] = level.reject
    return tests


def _nested_chain(case):
    """Groupings from the coarsest down, as long as each finer one nests in the coarser."""
    nests = {(finer, coarser): ok for finer, coarser, ok in case.nesting}
    chain = [case.groupings[-1]]
    for finer in reversed(case.groupings[:-1]):
        if not nests.get((finer.name, chain[-1].name)):
            break
        chain.append(finer)
    return chain


def _ranks(analysis: Analysis, alpha: float) -> dict:
    valued = analysis.valued
    rows = valued.rows
    macro = analysis.bootstrap.replicates.mean(axis=0)
    point = analysis.bootstrap.utilities.mean(axis=0)
    result = {}
    loo = analysis.values("loo")
    for grouping in analysis.case.groupings:
        selected = np.flatnonzero(((rows["grouping"] == grouping.name) & (rows["method"] == "loo")).to_numpy())
        if len(selected) < 3:
            continue
        weights = valued.weights[selected]
        estimate = weights @ point
        replicates = weights @ macro
        mde = loo[loo["grouping"] == grouping.name].set_index("group").loc[list(rows["group"].iloc[selected]), "mde"].to_numpy(float)
        stability = rank_stability(replicates, estimate, confidence=1 - alpha, top_k=min(5, len(selected)), mde=mde,
                                   kendall=len(selected) <= 300)
        table = pd.DataFrame({"group": list(rows["group"].iloc[selected]), "estimate": estimate,
                              "point_rank": stability.point_rank, "rank_low": stability.rank_low,
                              "rank_high": stability.rank_high, "p_top_k": stability.p_top_k})
        result[grouping.name] = {"table": table.sort_values(["point_rank", "group"]).reset_index(drop=True),
                                 "top_k": stability.top_k, "kendall_median": stability.kendall_tau_median,
                                 "kendall_p05": stability.kendall_tau_p05,
                                 "spearman_median": stability.spearman_rho_median,
                                 "n_near_ties": int(len(stability.near_tie_pairs))}
    return result


def _power(analysis: Analysis, alpha: float) -> dict:
    power = analysis.case.analysis.power
    result = {}
    if not analysis.runs.has_items:
        return result
    noise = analysis.noise.set_index("benchmark")
    for benchmark in analysis.runs.benchmarks:
        row = noise.loc[benchmark]
        if not (np.isfinite(row["seed_sd"]) and np.isfinite(row["item_sd"])):
            continue
        n = int(row["n_items"])
        items = sorted({max(10, n // 4), max(10, n // 2), n, 2 * n, 4 * n})
        grid = power_grid(float(row["seed_sd"]), float(row["item_sd"]), seeds=(3, 5, 10, 20, 50), items=items,
                          alpha=alpha, power=power)
        result[benchmark] = {"seeds": grid.seeds.tolist(), "items": grid.items.tolist(), "mde": grid.mde.tolist(),
                             "item_floor": grid.item_floor.tolist(), "seed_sd": float(row["seed_sd"]),
                             "item_sd": float(row["item_sd"]), "n_items": n}
    return result


def _per_work(analysis: Analysis, alpha: float) -> pd.DataFrame:
    columns = ["grouping", "group", "n_works", "group_effect", "work_effect", "seeds_for_group", "seeds_for_work",
               "item_floor", "below_item_floor"]
    if not analysis.runs.has_items:
        return pd.DataFrame(columns=columns)
    noise = analysis.noise.set_index("benchmark")
    benchmarks = list(analysis.runs.benchmarks)
    seed_sd = float(noise.loc[MACRO, "seed_sd"])
    # macro-average paired item variance: sum_b sigma_d,b^2 / n_b / K^2, expressed as one item
    item_var = sum(float(noise.loc[b, "item_sd"]) ** 2 / float(noise.loc[b, "n_items"]) for b in benchmarks) / len(benchmarks) ** 2
    if not (np.isfinite(seed_sd) and np.isfinite(item_var)):
        return pd.DataFrame(columns=columns)
    loo = analysis.values("loo")
    singles = {g.name for g in analysis.case.groupings if g.is_singletons}
    groups = loo[~loo["grouping"].isin(singles) & (loo["estimate"] > 0)]
    if not len(groups):
        return pd.DataFrame(columns=columns)
    scaling = per_work_scaling(groups["estimate"].to_numpy(float), groups["n_works"].to_numpy(int), seed_sd,
                               np.sqrt(item_var), 1, alpha=alpha, power=analysis.case.analysis.power)
    return pd.DataFrame({"grouping": groups["grouping"].to_numpy(), "group": groups["group"].to_numpy(),
                         "n_works": groups["n_works"].to_numpy(int), "group_effect": groups["estimate"].to_numpy(float),
                         "work_effect": np.asarray(scaling.work_effect, float),
                         "seeds_for_group": np.asarray(scaling.seeds_for_group, float),
                         "seeds_for_work": np.asarray(scaling.seeds_for_work, float),
                         "item_floor": float(np.asarray(scaling.item_floor).ravel()[0]),
                         "below_item_floor": np.asarray(scaling.below_item_floor, bool)})
