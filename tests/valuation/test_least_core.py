"""Tests of expert.valuation.coalitions.least_core on games with known cores (METHODS.md A6).

The least core minimises e subject to x(N) = v(N) - v(empty) and
x(S) + e >= v(S) - v(empty) for every proper non-empty S, breaks ties by the
minimum Euclidean norm, and reports each player's range within it. Each known
e* below comes with its certificate: an allocation attaining it and a weighted
sum of constraints that bounds e from below.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize

from expert.valuation.coalitions import least_core, least_core_subsidy
from expert.valuation.games import (additive_game, coalition_members, glove_game, shapley_by_permutations,
                                    symmetric_voting_game, unanimity_game, weighted_majority_game)

ATOL = 1e-7  # the allocation comes from SLSQP and the ranges from the LP with a 1e-12 relative slack


def proper_coalitions(n_players: int) -> np.ndarray:
    return coalition_members(n_players)[1:-1].astype(float)


def assert_in_least_core(core, utilities, n_players, atol=ATOL):
    """x sums to v(N) - v(empty) and meets every relaxed constraint x(S) + e* >= v(S) - v(empty)."""
    total = utilities[-1] - utilities[0]
    assert core.allocation.sum() == pytest.approx(total, abs=1e-9)
    excess = utilities[1:-1] - utilities[0] - proper_coalitions(n_players) @ core.allocation
    assert excess.max() <= core.subsidy + atol
    assert np.all(core.low <= core.allocation + atol) and np.all(core.allocation <= core.high + atol)


@pytest.mark.parametrize("n_left, n_right, expected", [(1, 2, [1.0, 0.0, 0.0]), (2, 1, [0.0, 0.0, 1.0]),
                                                      (1, 3, [1.0, 0.0, 0.0, 0.0])])
def test_glove_game_core_is_one_point(n_left, n_right, expected):
    # the scarce side takes everything: e.g. (L=1, R=2): x_R1 + x_R2 + e >= 0 and x_L + x_Rj + e >= 1 with
    # x_L + x_R1 + x_R2 = 1 give e >= x_Rj >= -e, so e* = 0 and x_R = 0 (pyDVL ShoesGame.least_core_values)
    game = glove_game(n_left, n_right)
    core = least_core(game.utilities, game.n_players)
    assert core.subsidy == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_allclose(core.allocation, expected, atol=ATOL)
    np.testing.assert_allclose(core.low, expected, atol=ATOL)
    np.testing.assert_allclose(core.high, expected, atol=ATOL)
    assert_in_least_core(core, game.utilities, game.n_players)


def test_glove_game_one_each():
    game = glove_game(1, 1)  # v(L) = v(R) = 0, v(LR) = 1: split evenly with e* = -1/2
    core = least_core(game.utilities, 2)
    assert core.subsidy == pytest.approx(-0.5, abs=1e-9)
    np.testing.assert_allclose(core.allocation, [0.5, 0.5], atol=ATOL)


def test_glove_game_two_each_core_is_a_segment():
    # L = R = 2: the core is {(a, a, 1-a, 1-a): 0 <= a <= 1} (each left-right pair must get exactly 1), e* = 0;
    # the minimum-norm point is a = 1/2 and every player's range is [0, 1]
    game = glove_game(2, 2)
    core = least_core(game.utilities, 4)
    assert core.subsidy == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_allclose(core.allocation, [0.5] * 4, atol=ATOL)
    np.testing.assert_allclose(core.low, [0.0] * 4, atol=ATOL)
    np.testing.assert_allclose(core.high, [1.0] * 4, atol=ATOL)
    assert_in_least_core(core, game.utilities, 4)


def test_convex_game_has_non_empty_core():
    # v(S) = |S|^2 is convex (supermodular): e* <= 0. With k = 3, x = (3, 3, 3) leaves slack 2 on every
    # singleton (1) and pair (4); the constraints of {1} and {2, 3} sum to 9 + 2e >= 5, so e* = -2.
    k = 3
    utilities = coalition_members(k).sum(axis=1).astype(float) ** 2
    core = least_core(utilities, k)
    assert core.subsidy == pytest.approx(-2.0, abs=1e-9)
    np.testing.assert_allclose(core.allocation, [3.0, 3.0, 3.0], atol=ATOL)


def test_random_convex_games_contain_shapley(rng):
    # for a convex game the Shapley value lies in the core (Shapley 1971), so e* <= max excess <= 0
    for k in (3, 4, 5):
        weights = rng.uniform(0.1, 1.0, k)
        utilities = (coalition_members(k) @ weights) ** 2 + 0.3
        core = least_core(utilities, k)
        shapley = shapley_by_permutations(utilities, k)
        excess = utilities[1:-1] - utilities[0] - proper_coalitions(k) @ shapley
        assert core.subsidy <= excess.max() + 1e-9
        assert excess.max() <= 0.0
        assert core.subsidy < 0.0
        assert_in_least_core(core, utilities, k)


@pytest.mark.parametrize("k, expected", [(3, 1 / 3), (4, 1 / 4), (5, 2 / 5), (6, 1 / 3)])
def test_symmetric_voting_game_has_empty_core(k, expected):
    # with m = floor(k/2) + 1, the k cyclic runs of m consecutive players cover every player m times: summing
    # their constraints, m + k e >= k, so e* >= 1 - m/k, which x = 1/k attains
    game = symmetric_voting_game(k)
    core = least_core(game.utilities, k)
    assert core.subsidy == pytest.approx(expected, abs=1e-9)
    assert core.subsidy > 0
    np.testing.assert_allclose(core.allocation, [1.0 / k] * k, atol=ATOL)
    assert_in_least_core(core, game.utilities, k)


def test_weighted_majority_game():
    # [6; 4, 3, 2, 1]: no veto player, so the core is empty. The winning coalitions AB, ACD and BCD cover every
    # player twice: 2 + 3e >= 3, so e* >= 1/3, attained by (1/3, 1/3, 1/3, 0)
    game = weighted_majority_game([4, 3, 2, 1], 6)
    core = least_core(game.utilities, 4)
    assert core.subsidy == pytest.approx(1 / 3, abs=1e-9)
    np.testing.assert_allclose(core.allocation, [1 / 3, 1 / 3, 1 / 3, 0.0], atol=ATOL)
    assert_in_least_core(core, game.utilities, 4)


def test_unanimity_game_core_is_the_carrier_simplex():
    # v(S) = 1 iff {0, 1} within S: the core gives everything to the carrier, e* = 0, ranges [0, 1] on the carrier
    game = unanimity_game(4, [0, 1])
    core = least_core(game.utilities, 4)
    assert core.subsidy == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_allclose(core.allocation, [0.5, 0.5, 0.0, 0.0], atol=ATOL)
    np.testing.assert_allclose(core.low, [0.0, 0.0, 0.0, 0.0], atol=ATOL)
    np.testing.assert_allclose(core.high, [1.0, 1.0, 0.0, 0.0], atol=ATOL)


def test_additive_game_core_is_the_weights():
    # x_i + e >= w_i and x(N - i) + e >= w(N) - w_i sum to 2e >= 0: e* = 0 and x = w
    game = additive_game([0.2, 0.5, 0.1, 0.7], empty=0.4)
    core = least_core(game.utilities, 4)
    assert core.subsidy == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_allclose(core.allocation, game.shapley, atol=ATOL)
    np.testing.assert_allclose(core.high - core.low, 0.0, atol=ATOL)


def test_empty_coalition_utility_and_scale(rng):
    # the least core of v + c (v(empty) = c) is that of v; of a v it is a times that of v
    k = 4
    utilities = rng.normal(0.0, 1.0, 1 << k)
    utilities[0] = 0.0
    base = least_core(utilities, k)
    shifted = least_core(utilities + 0.75, k)
    scaled = least_core(3.0 * utilities, k)
    assert shifted.subsidy == pytest.approx(base.subsidy, abs=1e-9)
    np.testing.assert_allclose(shifted.allocation, base.allocation, atol=1e-6)
    assert scaled.subsidy == pytest.approx(3.0 * base.subsidy, abs=1e-8)
    np.testing.assert_allclose(scaled.allocation, 3.0 * base.allocation, atol=1e-6)


@pytest.mark.parametrize("k", [2, 3, 4, 5, 6])
def test_random_games(k, rng):
    utilities = rng.normal(0.5, 0.3, 1 << k)
    core = least_core(utilities, k)
    subsidy, *_ = least_core_subsidy(utilities, k)
    assert core.subsidy == subsidy
    assert_in_least_core(core, utilities, k, atol=1e-6)
    # tie-break: no point of the least core is shorter; every vertex found by a random objective is in it
    member = proper_coalitions(k)
    target = utilities[1:-1] - utilities[0]
    for _ in range(5):
        vertex = optimize.linprog(rng.normal(size=k), A_ub=-member, b_ub=subsidy + 1e-12 - target,
                                  A_eq=np.ones((1, k)), b_eq=[utilities[-1] - utilities[0]],
                                  bounds=[(None, None)] * k, method="highs")
        assert vertex.success
        assert np.linalg.norm(core.allocation) <= np.linalg.norm(vertex.x) + 1e-6
        assert np.all(core.low - 1e-6 <= vertex.x) and np.all(vertex.x <= core.high + 1e-6)


def test_one_player():
    # with one player there is no proper coalition, so e* is undefined: a clear error, not an unbounded LP
    with pytest.raises(ValueError, match="`n_players` must be at least 2"):
        least_core(np.array([0.2, 0.9]), 1)
