"""Tests of expert.valuation.semivalues: exact semivalues as weight matrices (METHODS.md A2-A4).

The oracles are the toy games of :mod:`expert.valuation.games`, whose values come
from closed forms or from counting arguments that never touch the weight matrix.
"""

from __future__ import annotations

import itertools
import math
import re

import numpy as np
import pytest
from scipy import special

from expert.valuation.games import (additive_game, coalition_members, glove_game, merge_players, owen_by_orders,
                                    shapley_by_permutations, symmetric_voting_game, unanimity_game,
                                    unanimity_semivalue, weighted_majority_game)
from expert.valuation.semivalues import coalition_label, popcount, semivalue_coefficients, semivalue_matrix

RTOL, ATOL = 1e-12, 1e-14
BETA_PARAMETERS = [(1.0, 1.0), (16.0, 1.0), (1.0, 16.0), (4.0, 1.0), (0.5, 0.5), (2.5, 7.0)]


def values(utilities: np.ndarray, n_players: int, method: str, alpha: float = 1.0, beta: float = 1.0) -> np.ndarray:
    """``W @ u`` for one semivalue."""
    return semivalue_matrix(n_players, semivalue_coefficients(n_players, method, alpha, beta)) @ utilities


def random_game(n_players: int, rng: np.random.Generator) -> np.ndarray:
    """An arbitrary (not symmetric, not monotone) game with v(empty) != 0."""
    return rng.normal(0.0, 1.0, 1 << n_players)


ORACLES = [
    symmetric_voting_game(1), symmetric_voting_game(4), symmetric_voting_game(7),
    glove_game(1, 1), glove_game(1, 2), glove_game(2, 1), glove_game(2, 3), glove_game(3, 4),
    unanimity_game(1, [0]), unanimity_game(3, [0, 1, 2]), unanimity_game(5, [1, 3]), unanimity_game(6, [0, 2, 3, 5]),
    weighted_majority_game([4, 3, 2, 1], 6), weighted_majority_game([5, 5, 3, 2, 1, 1], 9),
    additive_game([0.3, -0.1, 2.0, 0.0, 0.7], empty=0.25),
]


# --- closed forms ---------------------------------------------------------------------------------

@pytest.mark.parametrize("game", ORACLES, ids=lambda game: game.name)
def test_shapley_matches_closed_form(game):
    np.testing.assert_allclose(values(game.utilities, game.n_players, "shapley"), game.shapley, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("game", ORACLES, ids=lambda game: game.name)
def test_banzhaf_matches_closed_form(game):
    np.testing.assert_allclose(values(game.utilities, game.n_players, "banzhaf"), game.banzhaf, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("game", ORACLES, ids=lambda game: game.name)
def test_shapley_matches_permutation_enumeration(game):
    if game.n_players > 7:
        pytest.skip("enumeration of k! orders kept small")
    np.testing.assert_allclose(values(game.utilities, game.n_players, "shapley"),
                               shapley_by_permutations(game.utilities, game.n_players), rtol=RTOL, atol=ATOL)


def test_weighted_majority_shapley_shubik_index():
    # [6; 4, 3, 2, 1]: pivots counted over all 24 orders: A 10, B 6, C 6, D 2 (hand count in games.py)
    game = weighted_majority_game([4, 3, 2, 1], 6)
    pivots = np.zeros(4)
    weights = [4, 3, 2, 1]
    for order in itertools.permutations(range(4)):
        running = 0
        for player in order:
            if running < 6 <= running + weights[player]:
                pivots[player] += 1
                break
            running += weights[player]
    np.testing.assert_array_equal(pivots, [10, 6, 6, 2])
    np.testing.assert_allclose(game.shapley, [5 / 12, 1 / 4, 1 / 4, 1 / 12], rtol=RTOL)
    np.testing.assert_allclose(values(game.utilities, 4, "shapley"), pivots / 24, rtol=RTOL)
    np.testing.assert_allclose(values(game.utilities, 4, "banzhaf"), [5 / 8, 3 / 8, 3 / 8, 1 / 8], rtol=RTOL)


@pytest.mark.parametrize("alpha, beta", BETA_PARAMETERS)
def test_beta_on_every_unanimity_game(alpha, beta):
    # unanimity games span all games on N, so agreement on each one pins down the whole matrix
    k = 4
    matrix = semivalue_matrix(k, semivalue_coefficients(k, "beta", alpha, beta))
    for size in range(1, k + 1):
        for carrier in itertools.combinations(range(k), size):
            game = unanimity_game(k, carrier)
            expected = np.where(np.isin(np.arange(k), carrier), unanimity_semivalue(size, alpha, beta), 0.0)
            np.testing.assert_allclose(matrix @ game.utilities, expected, rtol=1e-11, atol=ATOL)


@pytest.mark.parametrize("alpha, beta", BETA_PARAMETERS)
def test_beta_on_additive_game_is_the_weights(alpha, beta):
    game = additive_game([0.3, -0.1, 2.0, 0.0, 0.7, 1.5], empty=-0.4)
    np.testing.assert_allclose(values(game.utilities, 6, "beta", alpha, beta), game.shapley, rtol=1e-11, atol=1e-13)


def test_beta_one_one_is_shapley(rng):
    for k in (1, 2, 5, 9):
        np.testing.assert_allclose(semivalue_coefficients(k, "beta", 1.0, 1.0), semivalue_coefficients(k, "shapley"),
                                   rtol=1e-12)
        u = random_game(k, rng)
        np.testing.assert_allclose(values(u, k, "beta", 1.0, 1.0), values(u, k, "shapley"), rtol=1e-11, atol=1e-13)


def test_beta_sixteen_one_up_weights_small_coalitions():
    # Beta(16, 1): each other player present with probability t ~ Beta(1, 16), mean 1/17 (METHODS A4)
    p = semivalue_coefficients(6, "beta", 16.0, 1.0)
    counts = np.array([math.comb(5, s) for s in range(6)])
    mass = counts * p
    assert np.all(np.diff(mass) < 0)
    assert mass[0] == pytest.approx(16 / 21, rel=1e-12)  # B(1, 21) / B(16, 1) = 16/21


# --- coefficients -----------------------------------------------------------------------------------

@pytest.mark.parametrize("k", [1, 2, 3, 7, 12, 20, 40])
@pytest.mark.parametrize("method, alpha, beta", [("shapley", 1, 1), ("banzhaf", 1, 1)]
                         + [("beta", a, b) for a, b in BETA_PARAMETERS])
def test_coefficients_sum_to_one(k, method, alpha, beta):
    p = semivalue_coefficients(k, method, alpha, beta)
    assert p.shape == (k,)
    assert np.all(p > 0)
    total = sum(math.comb(k - 1, s) * p[s] for s in range(k))
    assert total == pytest.approx(1.0, rel=1e-11)


@pytest.mark.parametrize("k", [1, 2, 5, 10])
def test_coefficients_match_textbook_formulas(k):
    shapley = [math.factorial(s) * math.factorial(k - s - 1) / math.factorial(k) for s in range(k)]
    np.testing.assert_allclose(semivalue_coefficients(k, "shapley"), shapley, rtol=1e-12)
    np.testing.assert_allclose(semivalue_coefficients(k, "banzhaf"), [2.0 ** -(k - 1)] * k, rtol=1e-15)
    for alpha, beta in BETA_PARAMETERS:
        expected = [special.beta(s + beta, k - 1 - s + alpha) / special.beta(alpha, beta) for s in range(k)]
        np.testing.assert_allclose(semivalue_coefficients(k, "beta", alpha, beta), expected, rtol=1e-10)


def test_semivalue_coefficients_iv():
    message = "`method` must be in ('shapley', 'banzhaf', 'beta'), got 'owen'"
    with pytest.raises(ValueError, match=re.escape(message)):
        semivalue_coefficients(3, "owen")
    message = "`alpha` and `beta` must be positive."
    for alpha, beta in ((0.0, 1.0), (1.0, -2.0)):
        with pytest.raises(ValueError, match=re.escape(message)):
            semivalue_coefficients(3, "beta", alpha, beta)


# --- axioms -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("k", [1, 2, 3, 6, 9])
def test_shapley_efficiency(k, rng):
    u = random_game(k, rng)
    assert values(u, k, "shapley").sum() == pytest.approx(u[-1] - u[0], rel=1e-11, abs=1e-12)
    # efficiency through the weights: the column sums of W are -1 (empty), +1 (grand) and 0 elsewhere
    matrix = semivalue_matrix(k, semivalue_coefficients(k, "shapley"))
    expected = np.zeros(1 << k)
    expected[0] -= 1.0
    expected[-1] += 1.0
    np.testing.assert_allclose(matrix.sum(axis=0), expected, atol=1e-13)


def test_banzhaf_and_beta_are_not_efficient():
    game = symmetric_voting_game(5)
    assert values(game.utilities, 5, "banzhaf").sum() == pytest.approx(5 * 0.375)
    assert values(game.utilities, 5, "beta", 16.0, 1.0).sum() != pytest.approx(game.total)


def _swap(utilities: np.ndarray, k: int, i: int, j: int) -> np.ndarray:
    """Utilities of the game with players i and j exchanged."""
    masks = np.arange(1 << k, dtype=np.int64)
    bit_i, bit_j = (masks >> i) & 1, (masks >> j) & 1
    swapped = masks & ~((1 << i) | (1 << j)) | (bit_i << j) | (bit_j << i)
    return utilities[swapped]


@pytest.mark.parametrize("method, alpha, beta", [("shapley", 1, 1), ("banzhaf", 1, 1), ("beta", 16, 1), ("beta", 2, 5)])
def test_symmetry(method, alpha, beta, rng):
    k, i, j = 5, 1, 3
    u = random_game(k, rng)
    symmetric = 0.5 * (u + _swap(u, k, i, j))  # v(S + i) = v(S + j) for every S without i, j
    psi = values(symmetric, k, method, alpha, beta)
    assert psi[i] == pytest.approx(psi[j], rel=1e-12, abs=1e-13)
    # permuting the players permutes the values (anonymity)
    psi_u, psi_swapped = values(u, k, method, alpha, beta), values(_swap(u, k, i, j), k, method, alpha, beta)
    np.testing.assert_allclose(psi_swapped[[j, i]], psi_u[[i, j]], rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("method, alpha, beta", [("shapley", 1, 1), ("banzhaf", 1, 1), ("beta", 16, 1), ("beta", 2, 5)])
def test_null_player(method, alpha, beta, rng):
    k, null = 5, 2
    u = random_game(k, rng)
    masks = np.arange(1 << k, dtype=np.int64)
    u_null = u[masks & ~(1 << null)]  # v(S + null) = v(S)
    psi = values(u_null, k, method, alpha, beta)
    assert psi[null] == pytest.approx(0.0, abs=1e-13)


@pytest.mark.parametrize("method, alpha, beta", [("shapley", 1, 1), ("banzhaf", 1, 1), ("beta", 16, 1)])
def test_additivity_and_linearity(method, alpha, beta, rng):
    k = 6
    u, w = random_game(k, rng), random_game(k, rng)
    np.testing.assert_allclose(values(u + w, k, method, alpha, beta),
                               values(u, k, method, alpha, beta) + values(w, k, method, alpha, beta), rtol=1e-11,
                               atol=1e-12)
    np.testing.assert_allclose(values(-2.5 * u, k, method, alpha, beta), -2.5 * values(u, k, method, alpha, beta),
                               rtol=1e-12, atol=1e-13)
    # a constant shift (v(empty) != 0) changes no marginal contribution
    np.testing.assert_allclose(values(u + 7.0, k, method, alpha, beta), values(u, k, method, alpha, beta), rtol=1e-11,
                               atol=1e-12)


# --- merging: Banzhaf is 2-efficient, Shapley is not ----------------------------------------------------

@pytest.mark.parametrize("k, first, second", [(3, 0, 1), (4, 2, 0), (5, 1, 4), (6, 3, 2)])
def test_banzhaf_two_efficiency(k, first, second, rng):
    u = random_game(k, rng)
    beta_values = values(u, k, "banzhaf")
    merged = merge_players(u, k, first, second)
    merged_index = first if first < second else first - 1
    merged_values = values(merged, k - 1, "banzhaf")
    assert merged_values[merged_index] == pytest.approx(beta_values[first] + beta_values[second], rel=1e-11)
    assert merged.shape == (1 << (k - 1),)


def test_unanimity_three_merge_counterexample():
    # METHODS A2: each player gets 1/3, but players 0 and 1 merged get 1/2, not 2/3
    game = unanimity_game(3, [0, 1, 2])
    merged = merge_players(game.utilities, 3, 0, 1)
    shapley, merged_shapley = values(game.utilities, 3, "shapley"), values(merged, 2, "shapley")
    np.testing.assert_allclose(shapley, [1 / 3] * 3, rtol=RTOL)
    np.testing.assert_allclose(merged_shapley, [1 / 2, 1 / 2], rtol=RTOL)
    assert merged_shapley[0] != pytest.approx(shapley[0] + shapley[1])
    # Banzhaf: 1/4 + 1/4 = 1/2 (METHODS A3)
    banzhaf, merged_banzhaf = values(game.utilities, 3, "banzhaf"), values(merged, 2, "banzhaf")
    np.testing.assert_allclose(banzhaf, [1 / 4] * 3, rtol=RTOL)
    assert merged_banzhaf[0] == pytest.approx(banzhaf[0] + banzhaf[1], rel=RTOL)


# --- construction ------------------------------------------------------------------------------------------

def _naive_matrix(k: int, coefficients: np.ndarray) -> np.ndarray:
    """psi_i = sum_{S not containing i} p_|S| [v(S + i) - v(S)], written entry by entry."""
    matrix = np.zeros((k, 1 << k))
    for i in range(k):
        others = [player for player in range(k) if player != i]
        for size in range(k):
            for subset in itertools.combinations(others, size):
                without = sum(1 << player for player in subset)
                matrix[i, without | (1 << i)] += coefficients[size]
                matrix[i, without] -= coefficients[size]
    return matrix


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 6])
@pytest.mark.parametrize("method, alpha, beta", [("shapley", 1, 1), ("banzhaf", 1, 1), ("beta", 16, 1)])
def test_vectorised_matrix_equals_naive_loop(k, method, alpha, beta):
    coefficients = semivalue_coefficients(k, method, alpha, beta)
    matrix = semivalue_matrix(k, coefficients)
    assert matrix.shape == (k, 1 << k)
    np.testing.assert_allclose(matrix, _naive_matrix(k, coefficients), rtol=1e-15, atol=0)


def test_popcount(rng):
    masks = np.concatenate([np.arange(1 << 12, dtype=np.int64),
                            rng.integers(0, np.iinfo(np.int64).max, 2000, dtype=np.int64, endpoint=True),
                            np.array([np.iinfo(np.int64).max, 1 << 62, (1 << 62) - 1], dtype=np.int64)])
    expected = np.array([bin(int(mask)).count("1") for mask in masks])
    np.testing.assert_array_equal(popcount(masks), expected)
    np.testing.assert_array_equal(popcount(np.arange(1 << 6)), coalition_members(6).sum(axis=1))
    assert popcount(np.array(0)).shape == ()


def test_coalition_label():
    groups = ("S1", "S2", "S3")
    assert coalition_label(0b111, groups, "sector") == ""
    assert coalition_label(0b101, groups, "sector") == "sector:S2"
    assert coalition_label(0b001, groups, "sector") == "sector:S2;sector:S3"
    assert coalition_label(0, groups, "sector") == "sector:*"


# --- the oracles' own input validation ----------------------------------------------------------------------

def test_games_iv():
    cases = [
        (lambda: glove_game(0, 2), "`n_left` and `n_right` must be at least 1, got 0 and 2."),
        (lambda: unanimity_game(3, [3]), "`carrier` must be a non-empty set of players in 0..2, got [3]."),
        (lambda: weighted_majority_game([2, 1], 0), "`weights` must be non-negative integers and `quota` positive"),
        (lambda: merge_players(np.zeros(8), 3, 1, 1), "`first` and `second` must be distinct players in 0..2"),
        (lambda: merge_players(np.zeros(4), 3, 0, 1), "`utilities` must have shape (8,), got (4,)."),
        (lambda: owen_by_orders(np.zeros(8), [[0, 1], [1, 2]]), "`unions` must partition the players 0..k-1"),
        (lambda: shapley_by_permutations(np.zeros(1 << 10), 10), "`n_players` must be at most 9 for enumeration"),
        (lambda: symmetric_voting_game(0), "`n_players` must be an integer in [1, 24], got 0."),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=re.escape(message)):
            call()


def test_merge_players_relabels_the_others():
    # merging 2 into 0 in a 4-player additive game: players (0+2, 1, 3) with weights (w0 + w2, w1, w3)
    game = additive_game([1.0, 2.0, 4.0, 8.0], empty=0.5)
    merged = merge_players(game.utilities, 4, 0, 2)
    np.testing.assert_allclose(merged, additive_game([5.0, 2.0, 8.0], empty=0.5).utilities)
    merged = merge_players(game.utilities, 4, 3, 1)  # second < first: the merged player moves to index 2
    np.testing.assert_allclose(merged, additive_game([1.0, 4.0, 10.0], empty=0.5).utilities)
