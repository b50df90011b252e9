"""Toy cooperative games with known values: the oracles of the valuation tests.

Following pyDVL's ``valuation/games.py``, each game here comes with values derived
in closed form (or by a counting argument that never enumerates coalitions), so
the tests can check :mod:`expert.valuation.semivalues` and
:mod:`expert.valuation.coalitions` against something computed another way.

A game is returned as a :class:`ToyGame`: the utility of every coalition over the
bitmasks ``0 .. 2^k - 1`` (bit ``i`` set: player ``i`` present, the convention of
:func:`~expert.valuation.semivalues.semivalue_matrix`) plus its known Shapley and,
where known, Banzhaf values. Two brute-force references complete the oracles:
:func:`shapley_by_permutations` (every order of the players) and
:func:`owen_by_orders` (every order in which unions arrive contiguously).

This module is pure numpy: no file I/O, no case objects.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

__all__ = [
    "ToyGame",
    "coalition_members",
    "symmetric_voting_game",
    "glove_game",
    "unanimity_game",
    "unanimity_semivalue",
    "weighted_majority_game",
    "additive_game",
    "merge_players",
    "shapley_by_permutations",
    "owen_by_orders",
]

MAX_BRUTE_FORCE_PLAYERS = 9


@dataclass(frozen=True)
class ToyGame:
    """A cooperative game on ``n_players`` players with known values.

    Attributes
    ----------
    name : str
        A short description, e.g. ``"glove(L=1, R=2)"``.
    n_players : int
        k.
    utilities : ndarray, shape (2**k,)
        ``utilities[mask]`` is v(S) for the coalition S whose members are the set bits of ``mask``.
    shapley : ndarray, shape (k,)
        The Shapley values, from a closed form.
    banzhaf : ndarray of shape (k,) or None
        The (raw, unnormalised) Banzhaf values, when a closed form is known.
    """

    name: str
    n_players: int
    utilities: np.ndarray
    shapley: np.ndarray
    banzhaf: np.ndarray | None = None

    def value(self, players) -> float:
        """v(S) for the coalition of the player indices ``players``."""
        return float(self.utilities[sum(1 << int(player) for player in set(players))])

    @property
    def total(self) -> float:
        """v(N) - v(empty): what an efficient value distributes."""
        return float(self.utilities[-1] - self.utilities[0])


def coalition_members(n_players: int) -> np.ndarray:
    """Membership of every coalition: a boolean array of shape (2**k, k), row ``mask``, column ``i``.

    Built by shifting bits, independently of :func:`~expert.valuation.semivalues.popcount`.

    Examples
    --------
    >>> coalition_members(2).astype(int).tolist()
    [[0, 0], [1, 0], [0, 1], [1, 1]]
    """
    k = _n_players_iv(n_players)
    masks = np.arange(1 << k, dtype=np.int64)
    return ((masks[:, None] >> np.arange(k, dtype=np.int64)[None, :]) & 1).astype(bool)


def symmetric_voting_game(n_players: int) -> ToyGame:
    """v(S) = 1 if |S| > k/2, else 0 (Castro, Gómez & Tejada 2009, section 4.1).

    Parameters
    ----------
    n_players : int
        k >= 1.

    Returns
    -------
    ToyGame
        Shapley ``1/k`` each (symmetry and efficiency); Banzhaf ``C(k-1, floor(k/2)) / 2^(k-1)``
        each, since i is pivotal exactly when the others in S number ``floor(k/2)``.

    Examples
    --------
    >>> game = symmetric_voting_game(4)
    >>> game.shapley.tolist(), game.banzhaf.tolist()
    ([0.25, 0.25, 0.25, 0.25], [0.375, 0.375, 0.375, 0.375])
    """
    k = _n_players_iv(n_players)
    sizes = coalition_members(k).sum(axis=1)
    utilities = (2 * sizes > k).astype(np.float64)
    banzhaf = math.comb(k - 1, k // 2) / 2 ** (k - 1)
    return ToyGame(f"symmetric voting (k={k})", k, utilities, np.full(k, 1.0 / k), np.full(k, banzhaf))


def glove_game(n_left: int, n_right: int) -> ToyGame:
    """The glove (shoes) game: v(S) = min(|S ∩ L|, |S ∩ R|).

    Players ``0 .. n_left - 1`` hold a left glove, the next ``n_right`` a right glove.

    Parameters
    ----------
    n_left, n_right : int
        Numbers of left and right gloves, each >= 1.

    Returns
    -------
    ToyGame

    Notes
    -----
    A left-glove holder's marginal contribution to S is 1 exactly when S holds
    fewer left than right gloves, ``a < b`` with a of the other ``L - 1`` left and
    b of the ``R`` right gloves. Counting such S by size (pyDVL's ``ShoesGame``):

        Sh_left = sum_{a < b} C(L-1, a) C(R, b) (a+b)! (k-1-a-b)! / k!
        Bz_left = sum_{a < b} C(L-1, a) C(R, b) / 2^(k-1)

    and symmetrically for right gloves. With one left glove and R right gloves the
    left holder gets ``R / (R + 1)`` and each right holder ``1 / (R (R + 1))``.

    Examples
    --------
    >>> glove_game(1, 2).shapley.round(4).tolist()
    [0.6667, 0.1667, 0.1667]
    """
    n_left, n_right = int(n_left), int(n_right)
    if n_left < 1 or n_right < 1:
        raise ValueError(f"`n_left` and `n_right` must be at least 1, got {n_left} and {n_right}.")
    k = _n_players_iv(n_left + n_right)
    members = coalition_members(k)
    utilities = np.minimum(members[:, :n_left].sum(axis=1), members[:, n_left:].sum(axis=1)).astype(np.float64)

    def pivotal(own: int, other: int) -> tuple[Fraction, Fraction]:
        # holder of a glove of a side with `own` other holders, facing `other` holders of the opposite side
        shapley, banzhaf = Fraction(0), Fraction(0)
        for a in range(own + 1):
            for b in range(a + 1, other + 1):
                count = math.comb(own, a) * math.comb(other, b)
                shapley += Fraction(count * math.factorial(a + b) * math.factorial(k - 1 - a - b), math.factorial(k))
                banzhaf += Fraction(count, 2 ** (k - 1))
        return shapley, banzhaf

    left_shapley, left_banzhaf = pivotal(n_left - 1, n_right)
    right_shapley, right_banzhaf = pivotal(n_right - 1, n_left)
    shapley = np.array([float(left_shapley)] * n_left + [float(right_shapley)] * n_right)
    banzhaf = np.array([float(left_banzhaf)] * n_left + [float(right_banzhaf)] * n_right)
    return ToyGame(f"glove (L={n_left}, R={n_right})", k, utilities, shapley, banzhaf)


def unanimity_game(n_players: int, carrier) -> ToyGame:
    """v(S) = 1 if S contains every player of ``carrier`` (T), else 0.

    Parameters
    ----------
    n_players : int
        k.
    carrier : iterable of int
        The non-empty carrier T, player indices in ``0 .. k-1``.

    Returns
    -------
    ToyGame
        Shapley ``1/|T|`` on T and 0 elsewhere; Banzhaf ``2^-(|T|-1)`` on T and 0 elsewhere.
        Unanimity games are a basis of all games on N, so a linear value that is
        right on every unanimity game is right on every game.

    Examples
    --------
    >>> unanimity_game(3, [0, 1, 2]).shapley.round(4).tolist()
    [0.3333, 0.3333, 0.3333]
    """
    k = _n_players_iv(n_players)
    carrier = sorted({int(player) for player in carrier})
    if not carrier or carrier[0] < 0 or carrier[-1] >= k:
        raise ValueError(f"`carrier` must be a non-empty set of players in 0..{k - 1}, got {carrier}.")
    carrier_mask = sum(1 << player for player in carrier)
    masks = np.arange(1 << k, dtype=np.int64)
    utilities = ((masks & carrier_mask) == carrier_mask).astype(np.float64)
    inside = np.isin(np.arange(k), carrier)
    t = len(carrier)
    return ToyGame(f"unanimity (k={k}, T={carrier})", k, utilities, np.where(inside, 1.0 / t, 0.0),
                   np.where(inside, 0.5 ** (t - 1), 0.0))


def unanimity_semivalue(carrier_size: int, alpha: float, beta: float) -> float:
    """Beta(alpha, beta) semivalue of a carrier member in a unanimity game with ``|T| = carrier_size``.

    Notes
    -----
    With ``p_s = E[x^s (1-x)^(k-1-s)]``, x ~ Beta(beta, alpha) (METHODS A4), a carrier
    member's marginal is 1 exactly when S contains the other ``t - 1`` carrier
    members, so by the binomial theorem

        psi = sum_j C(k-t, j) p_{t-1+j} = E[x^(t-1)] = prod_{r=0}^{t-2} (beta + r) / (alpha + beta + r),

    independent of k. Beta(1, 1) gives ``1/t`` (Shapley); x = 1/2 gives ``2^-(t-1)`` (Banzhaf).

    Examples
    --------
    >>> unanimity_semivalue(3, 1.0, 1.0)
    0.3333333333333333
    """
    t = int(carrier_size)
    if t < 1:
        raise ValueError(f"`carrier_size` must be at least 1, got {t}.")
    return float(np.prod([(beta + r) / (alpha + beta + r) for r in range(t - 1)]))


def weighted_majority_game(weights, quota: int) -> ToyGame:
    """Weighted voting game ``[q; w_1, ..., w_k]``: v(S) = 1 if sum_{i in S} w_i >= q.

    Parameters
    ----------
    weights : sequence of int
        Non-negative integer weights.
    quota : int
        q > 0.

    Returns
    -------
    ToyGame
        Shapley values = the Shapley-Shubik index; Banzhaf = raw Banzhaf index
        (swings / 2^(k-1)).

    Notes
    -----
    Computed by the generating-function method (Brams & Affuso 1976): for each
    player i, count the coalitions S of the others by size s and weight w with a
    dynamic programme, then i is pivotal for S when ``q - w_i <= w < q``:

        Sh_i = sum_s s! (k-1-s)! / k! * #{S: |S| = s, q - w_i <= w(S) < q}.

    For ``[6; 4, 3, 2, 1]`` this gives (5/12, 1/4, 1/4, 1/12) and Banzhaf
    (5/8, 3/8, 3/8, 1/8) (counted by hand from the 24 orders in the tests).

    Examples
    --------
    >>> game = weighted_majority_game([4, 3, 2, 1], 6)
    >>> [str(Fraction(x).limit_denominator(100)) for x in game.shapley]
    ['5/12', '1/4', '1/4', '1/12']
    """
    weights = [int(w) for w in weights]
    quota = int(quota)
    if any(w < 0 for w in weights) or quota <= 0:
        raise ValueError(f"`weights` must be non-negative integers and `quota` positive, got {weights} and {quota}.")
    k = _n_players_iv(len(weights))
    members = coalition_members(k)
    utilities = (members @ np.asarray(weights, dtype=np.int64) >= quota).astype(np.float64)
    total_weight = sum(weights)
    shapley, banzhaf = np.zeros(k), np.zeros(k)
    for i in range(k):
        counts = [[0] * (total_weight + 1) for _ in range(k)]  # counts[s][w]
        counts[0][0] = 1
        n_seen = 0
        for j, w_j in enumerate(weights):
            if j == i:
                continue
            n_seen += 1
            for s in range(n_seen, 0, -1):
                for w in range(total_weight, w_j - 1, -1):
                    counts[s][w] += counts[s - 1][w - w_j]
        low, high = max(quota - weights[i], 0), quota  # pivotal weights: low <= w < high
        value, swings = Fraction(0), 0
        for s in range(k):
            pivots = sum(counts[s][low:min(high, total_weight + 1)])
            swings += pivots
            value += Fraction(pivots * math.factorial(s) * math.factorial(k - 1 - s), math.factorial(k))
        shapley[i], banzhaf[i] = float(value), swings / 2 ** (k - 1)
    return ToyGame(f"weighted majority [{quota}; {', '.join(map(str, weights))}]", k, utilities, shapley, banzhaf)


def additive_game(weights, empty: float = 0.0) -> ToyGame:
    """v(S) = empty + sum_{i in S} w_i: every semivalue (Shapley, Banzhaf, Beta) is ``w``.

    Examples
    --------
    >>> additive_game([1.0, 2.0], empty=0.5).utilities.tolist()
    [0.5, 1.5, 2.5, 3.5]
    """
    weights = np.asarray(weights, dtype=np.float64)
    k = _n_players_iv(len(weights))
    utilities = float(empty) + coalition_members(k) @ weights
    return ToyGame(f"additive (k={k})", k, utilities, weights.copy(), weights.copy())


def merge_players(utilities: np.ndarray, n_players: int, first: int, second: int) -> np.ndarray:
    """The game in which players ``first`` and ``second`` act as one player.

    Parameters
    ----------
    utilities : ndarray, shape (2**k,)
    n_players : int
        k >= 2.
    first, second : int
        Distinct players to merge.

    Returns
    -------
    ndarray, shape (2**(k-1),)
        Utilities of the (k-1)-player game whose players are the original ones
        without ``second``, in order; the merged player sits where ``first`` sat
        (one place earlier if ``second < first``) and stands for both.

    Examples
    --------
    >>> merge_players(unanimity_game(3, [0, 1, 2]).utilities, 3, 0, 1).tolist()
    [0.0, 0.0, 0.0, 1.0]
    """
    k = _n_players_iv(n_players)
    first, second = int(first), int(second)
    if k < 2 or first == second or not (0 <= first < k and 0 <= second < k):
        raise ValueError(f"`first` and `second` must be distinct players in 0..{k - 1}, got {first} and {second}.")
    utilities = np.asarray(utilities)
    if utilities.shape != (1 << k,):
        raise ValueError(f"`utilities` must have shape ({1 << k},), got {utilities.shape}.")
    kept = [player for player in range(k) if player != second]  # new index -> old player
    new_masks = np.arange(1 << (k - 1), dtype=np.int64)
    old_masks = np.zeros_like(new_masks)
    for new, old in enumerate(kept):
        present = (new_masks >> new) & 1
        old_masks |= present << old
        if old == first:
            old_masks |= present << second
    return utilities[old_masks]


def shapley_by_permutations(utilities: np.ndarray, n_players: int) -> np.ndarray:
    """Exact Shapley values by averaging marginal contributions over all k! orders.

    A brute-force reference for small k (at most 9 players).
    """
    k = _n_players_iv(n_players)
    if k > MAX_BRUTE_FORCE_PLAYERS:
        raise ValueError(f"`n_players` must be at most {MAX_BRUTE_FORCE_PLAYERS} for enumeration, got {k}.")
    return owen_by_orders(utilities, [[player] for player in range(k)])


def owen_by_orders(utilities: np.ndarray, unions) -> np.ndarray:
    """Exact Owen values: the mean marginal contribution over orders in which unions arrive contiguously.

    Parameters
    ----------
    utilities : ndarray, shape (2**k,)
    unions : sequence of sequences of int
        A partition of the players ``0 .. k-1`` into unions.

    Returns
    -------
    ndarray, shape (k,)

    Notes
    -----
    Enumerates all ``m! * prod_u t_u!`` admissible orders (m unions of sizes t_u),
    so it is only for tiny games. With singleton unions it is the Shapley value.
    """
    unions = [[int(player) for player in union] for union in unions]
    players = sorted(player for union in unions for player in union)
    k = len(players)
    if players != list(range(k)) or any(not union for union in unions):
        raise ValueError(f"`unions` must partition the players 0..k-1 into non-empty unions, got {unions}.")
    n_orders = math.factorial(len(unions)) * math.prod(math.factorial(len(union)) for union in unions)
    limit = math.factorial(MAX_BRUTE_FORCE_PLAYERS)
    if n_orders > limit:
        raise ValueError(f"`unions` must admit at most {limit} orders for enumeration, got {n_orders}.")
    utilities = np.asarray(utilities, dtype=np.float64)
    if utilities.shape != (1 << k,):
        raise ValueError(f"`utilities` must have shape ({1 << k},), got {utilities.shape}.")
    totals = np.zeros(k)
    for union_order in itertools.permutations(unions):
        for inner in itertools.product(*(itertools.permutations(union) for union in union_order)):
            mask = 0
            for player in itertools.chain.from_iterable(inner):
                totals[player] += utilities[mask | (1 << player)] - utilities[mask]
                mask |= 1 << player
    return totals / n_orders


def _n_players_iv(n_players) -> int:
    k = int(n_players)
    if k < 1 or k > 24:
        raise ValueError(f"`n_players` must be an integer in [1, 24], got {n_players!r}.")
    return k
