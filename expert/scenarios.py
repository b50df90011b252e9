"""Counsel's scenarios: what each claimant would receive under each bargaining structure.

A scenario (case ``scenarios:``) names a grouping (who bargains together), a
method (how value is apportioned), a pool and a within-group split. The
allocation is computed on every bootstrap replicate of the macro-average
utilities, so every amount has a percentile interval:

1. group values ``v_g`` = the method's values at the grouping (``W @ U*``);
2. group amounts: with a fixed ``pool.amount``, efficient methods (Shapley, Owen)
   allocate ``pool * v_g / (v(N) - v(empty))`` when the evidence has the model
   without any work (else ``/ sum v``); non-efficient methods (LOO, Banzhaf,
   Beta) are normalised ``pool * max(v_g, 0) / sum max(v, 0)`` and flagged;
   with ``pool.rate``, ``rate * v_g`` per point of score (floored at 0), not normalised;
3. works: each group's amount split among its works (equal, tokens, or a column);
4. claimants: each work's amount split among its rights holders by their shares;
   collectives report the sum over the claimants they represent (they overlap
   the classes, so they are not added to totals).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .analysis import Analysis
from .valuation.coalitions import parse_method
from .valuation.weights import Unavailable

__all__ = ["Allocation", "allocate", "allocate_all", "UNCLAIMED"]

UNCLAIMED = "(unclaimed)"


@dataclass(frozen=True)
class Allocation:
    """The allocation of one scenario.

    Attributes
    ----------
    scenario : str
    currency : str
    pool : float or None
        The pool allocated (None for a rate).
    groups : pandas.DataFrame
        grouping, group, value (score units), amount, amount_low, amount_high.
    claimants : pandas.DataFrame
        class, claimant, amount, amount_low, amount_high (collectives with class ``collective``).
    total : dict
        amount, amount_low, amount_high of the sum over groups.
    flags : tuple of str
        How the amounts were normalised and anything counsel must know.
    confidence : float
        Level of the percentile intervals.
    spec : ScenarioSpec
    """

    scenario: str
    currency: str
    pool: float | None
    groups: pd.DataFrame = field(repr=False)
    claimants: pd.DataFrame = field(repr=False)
    total: dict
    flags: tuple[str, ...]
    confidence: float = 0.95
    spec: object = field(repr=False, default=None)


def _interval(values: np.ndarray, confidence: float):
    alpha = 1 - confidence
    if values.shape[-1] < 2:
        return values[..., 0], values[..., 0]
    return np.quantile(values, alpha / 2, axis=-1), np.quantile(values, 1 - alpha / 2, axis=-1)


def _split_shares(case, grouping, split: str) -> np.ndarray:
    """Each work's share of its group's amount."""
    if split == "equal":
        weight = np.ones(len(case.works))
    else:
        weight = pd.to_numeric(case.works["tokens" if split == "tokens" else split], errors="coerce").to_numpy(float)
        weight = np.where(np.isfinite(weight) & (weight > 0), weight, 0.0)
    totals = np.bincount(grouping.membership, weights=weight, minlength=len(grouping.groups))
    sizes = grouping.sizes
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(totals[grouping.membership] > 0, weight / totals[grouping.membership],
                        1.0 / sizes[grouping.membership])


def allocate(analysis: Analysis, name: str, pool_scale: float = 1.0, split: str | None = None,
             method: str | None = None) -> Allocation | Unavailable:
    """Allocate scenario ``name`` on every replicate.

    Parameters
    ----------
    pool_scale : float
        Multiplies the pool or rate (for the sensitivity exhibit).
    split, method : str, optional
        Override the scenario's split or method (for the sensitivity exhibit).
    """
    case = analysis.case
    spec = case.scenarios[name]
    method_label = parse_method(method or spec.method).label
    split = split or spec.split
    grouping = case.grouping(spec.grouping)
    rows = analysis.valued.rows
    selected = np.flatnonzero(((rows["grouping"] == grouping.name) & (rows["method"] == method_label)).to_numpy())
    valued_groups = list(rows["group"].iloc[selected])
    if len(selected) < len(grouping.groups):
        missing = [g for g in grouping.groups if g not in set(valued_groups)]
        return Unavailable(grouping.name, method_label, f"scenario {name!r} needs {method_label} values of every "
                           f"{grouping.name}; {len(missing)} of {len(grouping.groups)} have none", tuple(missing),
                           len(missing))
    order = np.array([valued_groups.index(g) for g in grouping.groups])
    weights = analysis.valued.weights[selected[order]]
    boot = analysis.bootstrap
    point_u = boot.utilities.mean(axis=0)
    reps_u = boot.replicates.mean(axis=0)
    values = np.column_stack([weights @ point_u, weights @ reps_u])  # (G, 1 + B)
    flags = []
    efficient = method_label.split("(")[0] in ("shapley", "owen")
    if spec.pool.amount is not None:
        pool = spec.pool.amount * pool_scale
        empty = analysis.runs.find(frozenset(range(len(case.works))))
        if efficient and empty is not None:
            total_value = point_u[analysis.design.full] - point_u[empty]
            total_reps = reps_u[analysis.design.full] - reps_u[empty]
            denominator = np.concatenate([[total_value], total_reps])
            amounts = pool * values / denominator
            flags.append(f"{method_label} is efficient: each group receives pool x value / (v(N) - v(empty)); "
                         f"the amounts add up to the pool.")
        else:
            positive = np.maximum(values, 0.0)
            denominator = positive.sum(axis=0)
            amounts = np.where(denominator > 0, pool * positive / np.where(denominator > 0, denominator, 1.0), 0.0)
            if efficient:
                flags.append("The evidence has no model without every work, so the pool is allocated in proportion "
                             "to the values (normalised).")
            else:
                flags.append(f"{method_label} is not efficient: its values do not add up to the total value, so the pool "
                             f"is allocated in proportion to the values, negative values floored at zero (normalised; "
                             f"a non-linear step, computed per replicate).")
        if (values[:, 0] < 0).any():
            flags.append(f"{int((values[:, 0] < 0).sum())} group(s) have negative point values.")
    else:
        pool = None
        scale = 100.0 if _unit_is_points(analysis) else 1.0
        rate = spec.pool.rate * pool_scale
        amounts = rate * np.maximum(values, 0.0) * scale
        flags.append(f"Rate of {rate:,.2f} {spec.pool.currency} per {'point' if scale == 100 else 'score unit'} of "
                     f"value; negative values floored at zero; amounts are not normalised to a pool.")
    shares = _split_shares(case, grouping, split)
    work_amounts = amounts[grouping.membership] * shares[:, None]  # (works, 1 + B)
    confidence = case.analysis.bootstrap.confidence
    low, high = _interval(amounts[:, 1:], confidence)
    groups = pd.DataFrame({"grouping": grouping.name, "group": list(grouping.groups), "value": values[:, 0],
                           "amount": amounts[:, 0], "amount_low": low, "amount_high": high})
    records = []
    claimed = np.zeros(work_amounts.shape)
    for claimant_class in case.claimants:
        held = np.asarray(claimant_class.holdings.T @ work_amounts)  # (claimants, 1 + B)
        claimed += np.asarray(claimant_class.holdings.sum(axis=1)).ravel()[:, None] * work_amounts
        low, high = _interval(held[:, 1:], confidence)
        for index, claimant in enumerate(claimant_class.claimants):
            records.append({"class": claimant_class.name, "claimant": claimant, "amount": held[index, 0],
                            "amount_low": low[index], "amount_high": high[index]})
        lookup = {claimant: index for index, claimant in enumerate(claimant_class.claimants)}
        for collective, members in case.collectives.items():
            chosen = [lookup[c] for cls, c in members if cls == claimant_class.name]
            if chosen:
                summed = held[chosen].sum(axis=0)
                low_c, high_c = _interval(summed[None, 1:], confidence)
                records.append({"class": "collective", "claimant": f"{collective} ({claimant_class.name}s)",
                                "amount": summed[0], "amount_low": float(low_c[0]), "amount_high": float(high_c[0])})
    unclaimed = (work_amounts - claimed).sum(axis=0)
    if abs(unclaimed[0]) > 1e-9 * max(1.0, abs(work_amounts[:, 0].sum())):
        low, high = _interval(unclaimed[None, 1:], confidence)
        records.append({"class": UNCLAIMED, "claimant": UNCLAIMED, "amount": unclaimed[0],
                        "amount_low": float(low[0]), "amount_high": float(high[0])})
        flags.append("Some works have no claimant: their amounts are reported as unclaimed.")
    total = amounts.sum(axis=0)
    low, high = _interval(total[None, 1:], confidence)
    return Allocation(scenario=name, currency=spec.pool.currency, pool=pool, groups=groups,
                      claimants=pd.DataFrame.from_records(records, columns=["class", "claimant", "amount", "amount_low",
                                                                            "amount_high"]),
                      total={"amount": float(total[0]), "amount_low": float(low[0]), "amount_high": float(high[0])},
                      flags=tuple(flags), confidence=confidence, spec=spec)


def _unit_is_points(analysis: Analysis) -> bool:
    return all(float(np.nanmin(s)) >= 0 and float(np.nanmax(s)) <= 1 for s in analysis.runs.scores)


def allocate_all(analysis: Analysis, names=None) -> dict:
    """Every (or the named) scenario: name -> Allocation or Unavailable."""
    names = list(names) if names else list(analysis.case.scenarios)
    return {name: allocate(analysis, name) for name in names}


def sensitivity(analysis: Analysis, name: str) -> pd.DataFrame:
    """One-at-a-time variations of a scenario (pool +-50%, split, method) for the tornado chart.

    Returns rows: factor, setting, claimant (the largest claimant under the scenario), amount.
    """
    base = allocate(analysis, name)
    if isinstance(base, Unavailable) or not len(base.claimants):
        return pd.DataFrame(columns=["factor", "setting", "class", "claimant", "amount", "base"])
    ranked = base.claimants[base.claimants["class"] != "collective"].sort_values("amount", ascending=False)
    top = ranked.iloc[0]
    spec = analysis.case.scenarios[name]
    variations = [("pool", "pool x 0.5", {"pool_scale": 0.5}), ("pool", "pool x 1.5", {"pool_scale": 1.5})]
    for split in ("equal", "tokens"):
        if split != spec.split and (split != "tokens" or "tokens" in analysis.case.works.columns):
            variations.append(("split", f"split: {split}", {"split": split}))
    for method in analysis.methods:
        if method != parse_method(spec.method).label:
            variations.append(("method", f"method: {method}", {"method": method}))
    records = []
    for factor, setting, options in variations:
        result = allocate(analysis, name, **options)
        if isinstance(result, Unavailable):
            continue
        match = result.claimants[(result.claimants["class"] == top["class"]) & (result.claimants["claimant"] == top["claimant"])]
        records.append({"factor": factor, "setting": setting, "class": top["class"], "claimant": top["claimant"],
                        "amount": float(match["amount"].iloc[0]), "base": float(top["amount"])})
    return pd.DataFrame.from_records(records, columns=["factor", "setting", "class", "claimant", "amount", "base"])


def comparison(allocations: dict) -> pd.DataFrame:
    """Claimants x scenarios: amount and interval under each, and the ratio to the first scenario.

    Unavailable scenarios are left out (the caller reports them). A final row ``TOTAL`` sums
    the groups (collectives and unclaimed amounts are not part of it twice: the total is the
    sum over groups of each scenario).
    """
    available = {name: result for name, result in allocations.items() if isinstance(result, Allocation)}
    if not available:
        return pd.DataFrame(columns=["class", "claimant"])
    frame = None
    first = next(iter(available))
    for name, result in available.items():
        part = result.claimants.rename(columns={"amount": f"{name}: amount", "amount_low": f"{name}: low",
                                                "amount_high": f"{name}: high"})
        frame = part if frame is None else frame.merge(part, on=["class", "claimant"], how="outer")
    totals = {"class": "TOTAL", "claimant": "all groups"}
    for name, result in available.items():
        totals.update({f"{name}: amount": result.total["amount"], f"{name}: low": result.total["amount_low"],
                       f"{name}: high": result.total["amount_high"]})
    frame = pd.concat([frame, pd.DataFrame([totals])], ignore_index=True)
    for name in list(available)[1:]:
        with np.errstate(divide="ignore", invalid="ignore"):
            frame[f"{name}: ratio to {first}"] = frame[f"{name}: amount"] / frame[f"{first}: amount"]
    return frame.fillna({column: 0.0 for column in frame.columns if column.endswith((": amount", ": low", ": high"))})
