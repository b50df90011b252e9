"""Exact semivalues (Shapley, Banzhaf, Beta-Shapley) as weight matrices over coalitions.

METHODS.md A2-A4. For a grouping with k groups (the players), coalition S trains
on the base data plus the works of the groups in S; with all 2^k coalitions in
the evidence, a semivalue is

    psi_i = sum_{S not containing i} p_|S| [v(S + i) - v(S)]

which is linear in the coalition utilities. Writing coalitions as bitmasks T,
the weight of coalition T in player i's row is ``+p_{|T|-1}`` when i is in T and
``-p_{|T|}`` otherwise, so the whole (k x 2^k) matrix is built with array
operations: no Python loop over coalitions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special

__all__ = ["semivalue_coefficients", "semivalue_matrix", "popcount", "coalition_label", "METHOD_AXIOMS"]

METHOD_AXIOMS = {
    "loo": "symmetry, null player, linearity; not efficient (but-for value)",
    "shapley": "efficiency, symmetry, null player, additivity",
    "banzhaf": "symmetry, null player, additivity, 2-efficiency (merge-consistent); not efficient",
    "beta": "symmetry, null player, additivity; not efficient (a sensitivity check)",
    "owen": "efficiency, symmetry within and across unions, null player, additivity, quotient-game property",
    "least_core": "efficiency and coalitional stability (no group of rights-holders gains by leaving); set-valued",
}


def popcount(masks: np.ndarray) -> np.ndarray:
    """Number of set bits of each non-negative int64 mask."""
    masks = np.asarray(masks, dtype=np.uint64)
    count = np.zeros(masks.shape, dtype=np.int64)
    for shift in range(0, 64, 8):
        count += _BYTE_POP[((masks >> np.uint64(shift)) & np.uint64(0xFF)).astype(np.int64)]
    return count


_BYTE_POP = np.array([bin(i).count("1") for i in range(256)], dtype=np.int64)


def semivalue_coefficients(n_players: int, method: str, alpha: float = 1.0, beta: float = 1.0) -> np.ndarray:
    """Weights ``p_s`` (s = 0..k-1) of a semivalue, with ``sum_s C(k-1, s) p_s = 1``.

    Parameters
    ----------
    n_players : int
        k.
    method : {'shapley', 'banzhaf', 'beta'}
    alpha, beta : float
        Beta-Shapley parameters (METHODS A4, pyDVL's convention):
        ``p_s = B(s + beta, k - 1 - s + alpha) / B(alpha, beta)``; Beta(1, 1) is Shapley.

    Examples
    --------
    >>> semivalue_coefficients(3, "shapley").round(4).tolist()
    [0.3333, 0.1667, 0.3333]
    """
    k = int(n_players)
    s = np.arange(k, dtype=np.float64)
    if method == "shapley":
        return np.exp(special.gammaln(s + 1) + special.gammaln(k - s) - special.gammaln(k + 1))
    if method == "banzhaf":
        return np.full(k, 2.0 ** -(k - 1))
    if method == "beta":
        if alpha <= 0 or beta <= 0:
            raise ValueError("`alpha` and `beta` must be positive.")
        return np.exp(special.betaln(s + beta, k - 1 - s + alpha) - special.betaln(alpha, beta))
    raise ValueError(f"`method` must be in ('shapley', 'banzhaf', 'beta'), got {method!r}")


def semivalue_matrix(n_players: int, coefficients: np.ndarray) -> np.ndarray:
    """Dense (k x 2^k) weights over coalition bitmasks 0 .. 2^k - 1 (bit i set: player i present)."""
    k = int(n_players)
    masks = np.arange(1 << k, dtype=np.int64)
    sizes = popcount(masks)
    member = ((masks[None, :] >> np.arange(k, dtype=np.int64)[:, None]) & 1).astype(bool)
    plus = coefficients[np.clip(sizes - 1, 0, k - 1)]
    minus = coefficients[np.clip(sizes, 0, k - 1)]
    return np.where(member, plus[None, :], -minus[None, :])


def coalition_label(mask: int, groups, grouping: str) -> str:
    """A run-table ``removed`` spelling for the coalition ``mask`` (the groups NOT in it are removed)."""
    removed = [f"{grouping}:{group}" for index, group in enumerate(groups) if not (mask >> index) & 1]
    return ";".join(removed) if len(removed) < len(groups) else f"{grouping}:*"


def method_rows(grouping: str, groups, method: str, sizes, extra: dict | None = None) -> pd.DataFrame:
    frame = pd.DataFrame({"grouping": grouping, "group": list(groups), "method": method,
                          "n_works": np.asarray(sizes, dtype=np.int64)})
    for key, value in (extra or {}).items():
        frame[key] = value
    return frame
