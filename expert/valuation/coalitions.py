"""Game-theoretic values of a grouping's groups from the coalitions in the evidence.

For each requested method and grouping this module either returns a
:class:`~expert.valuation.weights.Valuation` (rows and weights over
configurations) or an :class:`~expert.valuation.weights.Unavailable` naming the
missing configurations, never silently nothing.

- exact semivalues (Shapley, Banzhaf, Beta) need every coalition of the k groups;
- Owen values of a finer grouping nested in a coarser one are exact when the
  block-structured coalitions exist (whole other unions plus a subset of one's
  own union); otherwise the coarser grouping's Shapley totals (the quotient game)
  are split within each union by a stated assumption (equal, tokens, or a numeric
  works column), applied level by level;
- the least core is a linear programme (:func:`least_core`), not a weight matrix.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import optimize

from ..case import Case, Grouping
from ..design import Design
from .semivalues import coalition_label, method_rows, semivalue_coefficients, semivalue_matrix
from .weights import Unavailable, Valuation

__all__ = ["MethodSpec", "parse_method", "exact_semivalue", "owen_values", "least_core", "least_core_subsidy",
           "LeastCore", "MAX_EXACT_PLAYERS", "MAX_LEAST_CORE_PLAYERS"]

MAX_EXACT_PLAYERS = 20
MAX_LEAST_CORE_PLAYERS = 12


@dataclass(frozen=True)
class MethodSpec:
    """A valuation method as named in the case (``beta(16,1)`` has alpha 16, beta 1)."""

    name: str
    alpha: float = 1.0
    beta: float = 1.0

    @property
    def label(self) -> str:
        if self.name == "beta":
            return f"beta({self.alpha:g},{self.beta:g})"
        return self.name


_BETA = re.compile(r"^beta\(\s*([0-9.eE+]+)\s*,\s*([0-9.eE+]+)\s*\)$")


def parse_method(text: str) -> MethodSpec:
    """``'shapley'`` -> MethodSpec('shapley'); ``'beta(16,1)'`` -> MethodSpec('beta', 16, 1).

    Raises
    ------
    ValueError
        With the list of valid choices.
    """
    text = str(text).strip().lower()
    if text in ("loo", "shapley", "banzhaf", "owen", "least_core"):
        return MethodSpec(text)
    match = _BETA.match(text)
    if match:
        alpha, beta = float(match.group(1)), float(match.group(2))
        if alpha > 0 and beta > 0 and math.isfinite(alpha) and math.isfinite(beta):
            return MethodSpec("beta", alpha, beta)
    raise ValueError("one of loo, shapley, banzhaf, beta(ALPHA,BETA) with positive numbers, owen, least_core")


MAX_LISTED_MISSING = 1000


def _missing(table: dict, needed, grouping: Grouping) -> tuple[list[str], int]:
    """Labels of the first missing coalitions (at most MAX_LISTED_MISSING) and how many are missing."""
    present = np.fromiter(table.keys(), dtype=np.int64, count=len(table))
    absent = np.setdiff1d(np.asarray(needed, dtype=np.int64), present)
    return [coalition_label(int(mask), grouping.groups, grouping.name) for mask in absent[:MAX_LISTED_MISSING]], len(absent)


def exact_semivalue(case: Case, design: Design, grouping_name: str, method: MethodSpec,
                    n_configurations: int) -> Valuation | Unavailable:
    """Exact Shapley, Banzhaf or Beta values of the groups of one grouping."""
    grouping = case.grouping(grouping_name)
    k = len(grouping.groups)
    if k > MAX_EXACT_PLAYERS:
        return Unavailable(grouping_name, method.label,
                           f"exact values need all 2^{k} coalitions of its {k} groups; the tool computes exact values "
                           f"for at most {MAX_EXACT_PLAYERS} groups", (), 0)
    table = design.coalition_table(grouping_name)
    masks = np.arange(1 << k, dtype=np.int64)
    missing, n_missing = _missing(table, masks, grouping)
    if n_missing:
        return Unavailable(grouping_name, method.label,
                           f"exact values need all {1 << k} coalitions of the {k} {grouping_name} groups; the run table "
                           f"has {(1 << k) - n_missing} of them", tuple(missing), n_missing)
    dense = semivalue_matrix(k, semivalue_coefficients(k, method.name, method.alpha, method.beta))
    columns = np.array([table[int(mask)] for mask in masks], dtype=np.int64)
    weights = sp.csr_array((dense.ravel(), (np.repeat(np.arange(k), len(masks)), np.tile(columns, k))),
                           shape=(k, n_configurations))
    rows = method_rows(grouping_name, grouping.groups, method.label, grouping.sizes)
    return Valuation(rows, weights)


def _split_shares(case: Case, finer: Grouping, coarser: Grouping, split: str) -> np.ndarray:
    """Share of each finer group within its coarser group under the split assumption."""
    if split == "equal":
        weight = np.ones(len(finer.groups))
    else:
        column = "tokens" if split == "tokens" else split
        values = pd.to_numeric(case.works[column], errors="coerce").to_numpy(dtype=float)
        weight = np.bincount(finer.membership, weights=values, minlength=len(finer.groups))
    parent = _parents(finer, coarser)
    totals = np.bincount(parent, weights=weight, minlength=len(coarser.groups))
    counts = np.bincount(parent, minlength=len(coarser.groups))
    with np.errstate(divide="ignore", invalid="ignore"):
        # a union whose split weights total zero is split equally, so the values still add up
        return np.where(totals[parent] > 0, weight / totals[parent], 1.0 / counts[parent])


def _parents(finer: Grouping, coarser: Grouping) -> np.ndarray:
    """Index of the coarser group holding each finer group (the groupings must nest)."""
    parent = np.full(len(finer.groups), -1, dtype=np.int64)
    parent[finer.membership] = coarser.membership
    return parent


def owen_values(case: Case, design: Design, grouping_name: str, split: str,
                n_configurations: int) -> Valuation | Unavailable:
    """Owen (Winter) values of the groups of ``grouping_name`` within the coarser groupings that nest it.

    Returns rows with a column ``assumption``: ``exact`` when computed from the
    block-structured coalitions, otherwise the split assumption that carried
    the coarser totals down to this level.
    """
    chain = _nesting_chain(case, grouping_name)
    grouping = case.grouping(grouping_name)
    top = chain[-1]
    quotient = exact_semivalue(case, design, top.name, MethodSpec("shapley"), n_configurations)
    if isinstance(quotient, Unavailable):
        return Unavailable(grouping_name, "owen", f"the Owen value needs the Shapley value of the quotient game of "
                           f"the coarsest grouping ({top.name}): {quotient.reason}", quotient.missing, quotient.n_missing)
    if len(chain) == 1:
        rows = quotient.rows.assign(method="owen", assumption="exact (no coarser grouping: the Shapley value)")
        return Valuation(rows, quotient.weights)
    # walk down: exact two-level Owen where observable (only directly below the top), else split
    weights = quotient.weights
    assumption = "exact"
    for level in range(len(chain) - 2, -1, -1):
        finer, coarser = chain[level], chain[level + 1]
        exact = _exact_owen(case, design, finer, coarser, n_configurations) if coarser is top else None
        if exact is not None:
            weights, assumption = exact, "exact"
        else:
            shares = _split_shares(case, finer, coarser, split)
            parent = _parents(finer, coarser)
            split_matrix = sp.csr_array((shares, (np.arange(len(shares)), parent)), shape=(len(shares), len(coarser.groups)))
            weights = sp.csr_array(split_matrix @ weights)
            assumption = f"{split} split within {coarser.name}" if assumption == "exact" else f"{assumption}; {split} split within {coarser.name}"
    rows = method_rows(grouping_name, grouping.groups, "owen", grouping.sizes, {"assumption": assumption})
    return Valuation(rows, weights)


def _nesting_chain(case: Case, grouping_name: str) -> list[Grouping]:
    """The grouping followed by every coarser grouping, as long as each nests in the next."""
    names = [g.name for g in case.groupings]
    nests = {(finer, coarser): ok for finer, coarser, ok in case.nesting}
    start = names.index(grouping_name)
    chain = [case.groupings[start]]
    for index in range(start, len(names) - 1):
        if not nests.get((names[index], names[index + 1]), False):
            break
        chain.append(case.groupings[index + 1])
    return chain


def _exact_owen(case, design, finer: Grouping, coarser: Grouping, n_configurations: int):
    """The two-level Owen value of ``finer`` groups with unions ``coarser``, or None if unobservable."""
    n_players = len(finer.groups)
    if n_players > 62:
        return None
    table = design.coalition_table(finer.name)
    parent = _parents(finer, coarser)
    unions = [np.flatnonzero(parent == u) for u in range(len(coarser.groups))]
    union_masks = [int(sum(1 << int(p) for p in members)) for members in unions]
    m = len(unions)
    rows, columns, data = [], [], []
    for k, members in enumerate(unions):
        others = [u for u in range(m) if u != k]
        t = len(members)
        for position, player in enumerate(members):
            rest = [int(p) for p in members if p != player]
            for h in range(len(others) + 1):
                weight_h = math.factorial(h) * math.factorial(m - h - 1) / math.factorial(m)
                for chosen in itertools.combinations(others, h):
                    base = sum(union_masks[u] for u in chosen)
                    for s in range(len(rest) + 1):
                        weight = weight_h * math.factorial(s) * math.factorial(t - s - 1) / math.factorial(t)
                        for subset in itertools.combinations(rest, s):
                            without = base + sum(1 << p for p in subset)
                            with_player = without + (1 << int(player))
                            if with_player not in table or without not in table:
                                return None
                            rows += [int(player), int(player)]
                            columns += [table[with_player], table[without]]
                            data += [weight, -weight]
    matrix = sp.coo_array((np.asarray(data), (np.asarray(rows), np.asarray(columns))),
                          shape=(n_players, n_configurations)).tocsr()
    matrix.sum_duplicates()
    return matrix


@dataclass(frozen=True)
class LeastCore:
    """The least core of a game (METHODS A6).

    Attributes
    ----------
    subsidy : float
        e*: the smallest uniform relaxation that makes the core non-empty (<= 0: the core is non-empty).
    allocation : ndarray
        The least-core allocation with the smallest Euclidean norm (sums to v(N) - v(empty)).
    low, high : ndarray
        Range of each player's payoff within the least core (the bargaining range).
    """

    subsidy: float
    allocation: np.ndarray
    low: np.ndarray
    high: np.ndarray


def least_core_subsidy(values: np.ndarray, n_players: int) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """e* and the LP data of the least core of the game with utilities ``values`` over masks 0..2^k-1."""
    k = n_players
    if k < 2:
        raise ValueError("`n_players` must be at least 2: with one player there is no coalition to stabilise.")
    masks = np.arange(1, (1 << k) - 1, dtype=np.int64)
    member = ((masks[:, None] >> np.arange(k)) & 1).astype(np.float64)
    total = values[(1 << k) - 1] - values[0]
    target = values[masks] - values[0]
    # variables (x_1..x_k, e): minimise e subject to -(sum_{i in S} x_i) - e <= -v(S), sum x = total
    a_ub = np.hstack([-member, -np.ones((len(masks), 1))])
    b_ub = -target
    a_eq = np.hstack([np.ones((1, k)), np.zeros((1, 1))])
    result = optimize.linprog(np.r_[np.zeros(k), 1.0], A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=[total],
                              bounds=[(None, None)] * (k + 1), method="highs")
    if not result.success:
        raise ValueError(f"least-core linear programme failed: {result.message}")
    return float(result.x[-1]), member, target, np.array([total])


def least_core(values: np.ndarray, n_players: int) -> LeastCore:
    """Least core of the game with utilities ``values`` over coalition masks 0..2^k-1.

    Minimise e subject to sum_N x = v(N) - v(empty) and
    sum_{i in S} x_i + e >= v(S) - v(empty) for every proper non-empty S; then the
    minimum-norm allocation with e = e* (tie-break) and each x_i's range.
    """
    k = n_players
    subsidy, member, target, total = least_core_subsidy(values, k)
    slack = subsidy + 1e-12 * max(1.0, abs(subsidy))
    constraints = [{"type": "eq", "fun": lambda x: np.array([x.sum() - total[0]]), "jac": lambda x: np.ones((1, k))},
                   {"type": "ineq", "fun": lambda x: member @ x + slack - target, "jac": lambda x: member}]
    start = np.full(k, total[0] / k)
    solved = optimize.minimize(lambda x: 0.5 * x @ x, start, jac=lambda x: x, constraints=constraints, method="SLSQP",
                               options={"maxiter": 500, "ftol": 1e-14})
    allocation = solved.x
    low, high = np.empty(k), np.empty(k)
    a_ub, b_ub = -member, slack - target
    for i in range(k):
        for sign, store in ((1.0, low), (-1.0, high)):
            c = np.zeros(k)
            c[i] = sign
            result = optimize.linprog(c, A_ub=a_ub, b_ub=b_ub, A_eq=np.ones((1, k)), b_eq=total,
                                      bounds=[(None, None)] * k, method="highs")
            store[i] = result.x[i] if result.success else np.nan
    return LeastCore(subsidy=subsidy, allocation=allocation, low=low, high=high)
