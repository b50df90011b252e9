"""Sampled designs for groupings with too many groups for all 2^k coalitions (METHODS.md A2-A3).

The design is drawn from a seeded generator that the case names
(``analysis.sampling``), so ``expert plan`` can list the configurations a lab
must train and ``expert build`` can find them again in the run table:

- ``msr``: m coalitions, each group included independently with probability 1/2;
  the maximum-sample-reuse Banzhaf estimate is
  ``mean{v(S): i in S} - mean{v(S): i not in S}`` (Wang & Jia 2023);
- ``permutations``: T random orders of the groups; each order gives a chain of
  k + 1 nested coalitions and one marginal contribution per group; the Shapley
  estimate is the mean marginal contribution.

Both estimates are linear in the configuration utilities (weight matrices like
every other method). Their sampling variance (METHODS A3: s_in^2/m_in +
s_out^2/m_out; sd(marginals)^2 / T) is returned as a function of the utilities so
the analysis can fold it into every interval.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..case import Case, Grouping
from .semivalues import coalition_label, method_rows
from .weights import Unavailable, Valuation

__all__ = ["SampledValuation", "sampled_design", "sampled_values", "SAMPLES_PER_GROUP"]

SAMPLES_PER_GROUP = 10


def _design_rng(case: Case, grouping: Grouping, seed: int) -> np.random.Generator:
    position = [g.name for g in case.groupings].index(grouping.name)
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(position,))))


def sampled_design(case: Case, grouping: Grouping, design: str, seed: int, samples: int | None = None) -> np.ndarray:
    """The coalitions of a sampled design as a boolean matrix (coalitions x groups), True = group present.

    ``msr``: ``samples`` (default 10 k) Bernoulli(1/2) rows. ``permutations``:
    ``samples`` (default 10) orders, each giving the k + 1 prefixes of the order,
    stacked order by order (row ``t * (k + 1) + j`` is the first j groups of order t).
    """
    k = len(grouping.groups)
    rng = _design_rng(case, grouping, seed)
    if design == "msr":
        m = samples or SAMPLES_PER_GROUP * k
        return rng.random((m, k)) < 0.5
    if design == "permutations":
        n_orders = samples or SAMPLES_PER_GROUP
        rows = []
        for _ in range(n_orders):
            order = rng.permutation(k)
            present = np.zeros(k, dtype=bool)
            rows.append(present.copy())
            for group in order:
                present[group] = True
                rows.append(present.copy())
        return np.array(rows, dtype=bool)
    raise ValueError(f"`design` must be in ('msr', 'permutations'), got {design!r}")


@dataclass(frozen=True)
class SampledValuation:
    """A sampled estimate: its weights, and its sampling variance as a function of utilities."""

    valuation: Valuation
    design: str
    n_samples: int
    variance_parts: tuple  # (sparse sample matrix (n_samples*rows, configs) or similar, kind)

    def sampling_variance(self, utilities: np.ndarray) -> np.ndarray:
        """Sampling variance of each row's estimate at the given configuration utilities."""
        kind, data = self.variance_parts
        if kind == "msr":
            samples, membership = data  # samples: (m,) configuration index; membership (m, k) bool
            values = utilities[samples]
            variance = np.empty(membership.shape[1])
            for i in range(membership.shape[1]):
                inside, outside = values[membership[:, i]], values[~membership[:, i]]
                variance[i] = (inside.var(ddof=1) / len(inside) if len(inside) > 1 else 0.0) + (
                    outside.var(ddof=1) / len(outside) if len(outside) > 1 else 0.0)
            return variance
        marginals = np.asarray(data @ utilities).reshape(self.n_samples, -1)  # (T, k)
        return marginals.var(axis=0, ddof=1) / self.n_samples if self.n_samples > 1 else np.zeros(marginals.shape[1])


def sampled_values(case: Case, design, grouping_name: str, method: str, spec, n_configurations: int):
    """Sampled Banzhaf (MSR) or Shapley (permutations) for one grouping, or Unavailable.

    Parameters
    ----------
    spec : SamplingSpec
        From the case: ``design`` ('msr' or 'permutations'), ``seed``, ``samples``.
    """
    grouping = case.grouping(grouping_name)
    k = len(grouping.groups)
    expected = {"banzhaf": "msr", "shapley": "permutations"}.get(method)
    if expected != spec.design:
        return Unavailable(grouping_name, method, f"the sampled design declared for {grouping_name} is {spec.design!r}, "
                           f"which estimates {'Banzhaf' if spec.design == 'msr' else 'Shapley'} values, not {method}")
    rows = sampled_design(case, grouping, spec.design, spec.seed, spec.samples)
    table = design.coalition_table(grouping_name)
    masks = (rows.astype(np.int64) << np.arange(k, dtype=np.int64)).sum(axis=1)
    missing = [coalition_label(int(mask), grouping.groups, grouping_name) for mask in dict.fromkeys(masks.tolist())
               if int(mask) not in table]
    if missing:
        return Unavailable(grouping_name, method, f"the sampled {spec.design} design (seed {spec.seed}) needs "
                           f"{len(set(masks.tolist()))} coalitions; the run table lacks {len(missing)} of them",
                           tuple(missing), len(missing))
    columns = np.array([table[int(mask)] for mask in masks], dtype=np.int64)
    if spec.design == "msr":
        inside = rows.sum(axis=0)
        outside = len(rows) - inside
        if np.any(inside == 0) or np.any(outside == 0):
            return Unavailable(grouping_name, method, "the MSR design has a group that is always or never present")
        weights = np.where(rows.T, 1.0 / inside[:, None], -1.0 / outside[:, None])  # (k, m)
        matrix = sp.coo_array((weights.ravel(), (np.repeat(np.arange(k), len(rows)), np.tile(columns, k))),
                              shape=(k, n_configurations)).tocsr()
        matrix.sum_duplicates()
        parts = ("msr", (columns, rows))
        n_samples = len(rows)
    else:
        n_orders = len(rows) // (k + 1)
        chain = rows.reshape(n_orders, k + 1, k)
        data, row_index, col_index = [], [], []
        for t in range(n_orders):
            for j in range(1, k + 1):
                added = int(np.flatnonzero(chain[t, j] & ~chain[t, j - 1])[0])
                after, before = columns[t * (k + 1) + j], columns[t * (k + 1) + j - 1]
                row = t * k + added
                data += [1.0, -1.0]
                row_index += [row, row]
                col_index += [after, before]
        marginal = sp.coo_array((data, (row_index, col_index)), shape=(n_orders * k, n_configurations)).tocsr()
        averaging = sp.csr_array((np.full(n_orders * k, 1.0 / n_orders), (np.tile(np.arange(k), n_orders),
                                                                         np.arange(n_orders * k))), shape=(k, n_orders * k))
        matrix = sp.csr_array(averaging @ marginal)
        parts = ("permutations", marginal)
        n_samples = n_orders
    frame = method_rows(grouping_name, grouping.groups, method, grouping.sizes,
                        {"assumption": f"sampled: {spec.design}, {n_samples} samples, seed {spec.seed}"})
    return SampledValuation(Valuation(frame, matrix), spec.design, n_samples, parts)
