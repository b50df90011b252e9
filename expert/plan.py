"""Design the experiment a question needs: which configurations to train, and how many seeds.

:func:`plan` answers two questions for counsel and the lab, before or after
evidence exists:

1. For each requested method and grouping, the smallest set of configurations it
   needs (exact where affordable; otherwise a Bernoulli(1/2) sampling design
   with known inclusion probabilities, drawn from a seeded generator), which of
   them the run table already has, and how many training runs are missing.
2. From the observed seed and item variance of the leave-one-out comparisons
   (or from variance assumptions when there is no evidence yet), the seeds per
   configuration needed for a target minimum detectable effect, and the item
   floor below which no number of seeds suffices (METHODS.md B4).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from .case import Case
from .evidence import RunTable
from .valuation.coalitions import parse_method
from .valuation.sampling import sampled_design
from .valuation.semivalues import coalition_label

__all__ = ["Plan", "plan", "DEFAULT_MAX_EXACT"]

DEFAULT_MAX_EXACT = 12


@dataclass(frozen=True)
class Plan:
    """What to train.

    Attributes
    ----------
    requirements : pandas.DataFrame
        One row per (method, grouping): design, configurations needed, present, missing,
        training runs missing (missing x seeds).
    configurations : pandas.DataFrame
        One row per configuration to train: ``removed`` (run-table spelling), ``seeds``
        (how many), ``purpose`` (the methods and groupings that need it), ``present``.
    seeds : pandas.DataFrame
        Per grouping and benchmark: the variance components, the current MDE, the seeds
        needed for the target, and the item floor.
    n_seeds : int
        Seeds per configuration assumed for the run counts.
    sampling_seed : int
        Seed of the generator that drew the sampled designs.
    """

    requirements: pd.DataFrame = field(repr=False)
    configurations: pd.DataFrame = field(repr=False)
    seeds: pd.DataFrame = field(repr=False)
    n_seeds: int
    sampling_seed: int


def plan(case: Case, runs: RunTable | None, *, target: float | None = None, seed_sd: float | None = None,
         item_sd: float | None = None, n_items: int | None = None, n_seeds: int | None = None,
         max_exact: int = DEFAULT_MAX_EXACT, sampling_seed: int = 0, alpha: float | None = None,
         power: float | None = None) -> Plan:
    """Plan the configurations and seeds the case's questions need.

    Parameters
    ----------
    case : Case
    runs : RunTable or None
        The evidence so far (None when there is none yet).
    target : float, optional
        Target minimum detectable effect, in score units.
    seed_sd, item_sd, n_items : optional
        Assumptions when there is no evidence: seed SD of a model's benchmark mean,
        SD of paired item differences, items per benchmark (score units).
    n_seeds : int, optional
        Seeds per configuration for the run counts (default: the evidence's, or 5).
    max_exact : int
        Largest number of groups for which the exact design (all 2^k coalitions) is proposed.
    sampling_seed : int
        Seed of the generator for sampled designs (recorded).
    """
    alpha = alpha if alpha is not None else 1 - case.analysis.bootstrap.confidence
    power = power if power is not None else case.analysis.power
    if n_seeds is None:
        n_seeds = int(np.median(runs.seeds_per_configuration)) if runs is not None else 5
    present_sets = {c.removed for c in runs.configurations} if runs is not None else set()
    needed: dict[frozenset, dict] = {}
    requirements = []

    def need(removed: frozenset, spelling: str, purpose: str):
        entry = needed.setdefault(removed, {"removed": spelling, "purposes": []})
        if purpose not in entry["purposes"]:
            entry["purposes"].append(purpose)

    for method_text in dict.fromkeys(["loo"] + list(case.analysis.methods)):
        method = parse_method(method_text)
        for grouping in case.groupings:
            k = len(grouping.groups)
            members = [frozenset(grouping.members(g).tolist()) for g in range(k)]
            purpose = f"{method.label} at {grouping.name}"
            configs: list[tuple[frozenset, str]] = []
            if method.name == "loo":
                design = "leave one out"
                configs.append((frozenset(), ""))
                configs += [(members[g], f"{grouping.name}:{grouping.groups[g]}") for g in range(k)]
            elif method.name == "owen":
                coarsest = case.groupings[-1]
                m = len(coarsest.groups)
                if m > max_exact:
                    requirements.append(_requirement(purpose, "not affordable", 0, 0, n_seeds,
                                                     f"the quotient game needs 2^{m} coalitions"))
                    continue
                design = f"quotient game at {coarsest.name} (all 2^{m} coalitions) + split assumption"
                coarse_members = [frozenset(coarsest.members(g).tolist()) for g in range(m)]
                for mask in range(1 << m):
                    removed = frozenset().union(*[coarse_members[g] for g in range(m) if not (mask >> g) & 1])
                    configs.append((removed, coalition_label(mask, coarsest.groups, coarsest.name) if mask != (1 << m) - 1 else ""))
            elif k <= max_exact:
                design = f"exact: all 2^{k} coalitions"
                for mask in range(1 << k):
                    removed = frozenset().union(*[members[g] for g in range(k) if not (mask >> g) & 1])
                    configs.append((removed, coalition_label(mask, grouping.groups, grouping.name) if mask != (1 << k) - 1 else ""))
            elif method.name == "least_core":
                requirements.append(_requirement(purpose, "not affordable", 0, 0, n_seeds,
                                                 f"the least core needs all 2^{k} coalitions; {k} groups is too many"))
                continue
            elif method.name == "beta":
                requirements.append(_requirement(purpose, "not affordable", 0, 0, n_seeds,
                                                 f"Beta values need all 2^{k} coalitions; no sampled design is offered"))
                continue
            else:
                declared = case.analysis.sampling.get(grouping.name)
                kind = "msr" if method.name == "banzhaf" else "permutations"
                seed = declared.seed if declared is not None and declared.design == kind else sampling_seed
                samples = declared.samples if declared is not None and declared.design == kind else None
                draws = sampled_design(case, grouping, kind, seed, samples)
                design = (f"sampled (MSR): {len(draws)} Bernoulli(1/2) coalitions, seed {seed}" if kind == "msr" else
                          f"sampled: {len(draws) // (k + 1)} random orders (chains of {k + 1} coalitions), seed {seed}")
                for row in draws:
                    removed = frozenset().union(*[members[g] for g in range(k) if not row[g]])
                    mask = int(sum(1 << g for g in range(k) if row[g]))
                    configs.append((removed, coalition_label(mask, grouping.groups, grouping.name) if mask != (1 << k) - 1 else ""))
            distinct = {removed: spelling for removed, spelling in configs}
            missing = [removed for removed in distinct if removed not in present_sets]
            for removed, spelling in distinct.items():
                need(removed, spelling, purpose)
            requirements.append(_requirement(purpose, design, len(distinct), len(distinct) - len(missing), n_seeds, ""))

    configurations = pd.DataFrame.from_records(
        [{"removed": entry["removed"], "seeds": n_seeds, "purpose": "; ".join(entry["purposes"]),
          "present": removed in present_sets, "n_works_removed": len(removed)}
         for removed, entry in needed.items()],
        columns=["removed", "seeds", "purpose", "present", "n_works_removed"])
    configurations = configurations.sort_values(["present", "n_works_removed", "removed"]).reset_index(drop=True)
    seeds = _seeds(case, runs, target, seed_sd, item_sd, n_items, alpha, power)
    return Plan(requirements=pd.DataFrame.from_records(requirements), configurations=configurations, seeds=seeds,
                n_seeds=n_seeds, sampling_seed=sampling_seed)


def _requirement(purpose, design, needed, present, n_seeds, note):
    method, grouping = purpose.split(" at ", 1)
    return {"method": method, "grouping": grouping, "design": design, "configurations": needed,
            "present": present, "missing": needed - present, "runs_to_train": (needed - present) * n_seeds,
            "note": note}


def _seeds(case, runs, target, seed_sd, item_sd, n_items, alpha, power) -> pd.DataFrame:
    """Seeds per configuration for a target MDE from the variance components of LOO comparisons."""
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    records = []
    if runs is not None and runs.full is not None:
        full = runs.full
        for grouping in case.groupings:
            for k, benchmark in enumerate(runs.benchmarks):
                seed_parts, item_parts = [], []
                scores = runs.scores[k]
                for group in range(len(grouping.groups)):
                    index = runs.find(frozenset(grouping.members(group).tolist()))
                    if index is None:
                        continue
                    both = runs.seed_mask[full] & runs.seed_mask[index]
                    per_seed = np.nanmean(scores[full], axis=1)[both] - np.nanmean(scores[index], axis=1)[both]
                    if len(per_seed) > 1:
                        seed_parts.append(per_seed.var(ddof=1))  # variance of one seed's difference
                    d = np.nanmean(scores[full], axis=0) - np.nanmean(scores[index], axis=0)
                    if d.size > 1:
                        item_parts.append(d.var(ddof=1) / d.size)
                if not seed_parts and not item_parts:
                    continue
                records.append(_seed_record(grouping.name, benchmark, float(np.median(seed_parts)) if seed_parts else 0.0,
                                            float(np.median(item_parts)) if item_parts else 0.0,
                                            int(runs.seeds_per_configuration.min()), target, z))
    elif seed_sd is not None:
        item_part = (item_sd**2 / n_items) if item_sd is not None and n_items else 0.0
        records.append(_seed_record("(assumed)", "(assumed)", 2 * seed_sd**2, item_part, None, target, z))
    columns = ["grouping", "benchmark", "seed_variance", "item_variance", "current_seeds", "current_mde",
               "target_mde", "seeds_needed", "item_floor"]
    return pd.DataFrame.from_records(records, columns=columns)


def _seed_record(grouping, benchmark, seed_variance, item_variance, current, target, z):
    """MDE(R) = z * sqrt(seed_variance / R + item_variance); solve for R at the target."""
    floor = z * np.sqrt(item_variance)
    if target is None:
        needed = np.nan
    elif target <= floor:
        needed = np.inf
    else:
        needed = float(np.ceil(seed_variance / ((target / z) ** 2 - item_variance))) if seed_variance > 0 else 1.0
        needed = max(needed, 2.0)
    current_mde = z * np.sqrt(seed_variance / current + item_variance) if current else np.nan
    return {"grouping": grouping, "benchmark": benchmark, "seed_variance": seed_variance,
            "item_variance": item_variance, "current_seeds": current, "current_mde": current_mde,
            "target_mde": target, "seeds_needed": needed, "item_floor": floor}
