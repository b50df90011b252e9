"""A slow, obviously correct n-gram model: the oracle for :mod:`expert.experiment.ngram`.

It is trained on one list of sentences (token-id lists) with plain dictionaries and
evaluates the formulas of the ``ngram`` module docstring literally; nothing is shared
with the fast implementation except the token ids.
"""

from __future__ import annotations

from collections import Counter, defaultdict


class ReferenceModel:
    """Interpolated Kneser-Ney or absolute discounting, trained on ``sentences``.

    Parameters
    ----------
    sentences : list of list of int
        Token ids (``>= 2``; ``0`` is ``<s>`` and ``1`` is ``</s>``, added here).
    order : int
    smoothing : {"kneser_ney", "absolute_discounting"}
    discounts : list of float
        ``D_1 .. D_N``.
    vocabulary_size : int
        ``V``.
    """

    def __init__(self, sentences, order, smoothing, discounts, vocabulary_size):
        self.order = order
        self.kn = smoothing == "kneser_ney"
        self.discounts = discounts
        self.V = vocabulary_size
        self.count = [Counter() for _ in range(order + 2)]  # count[n][ngram tuple], at predicted positions
        for sentence in sentences:
            padded = [0] * (order - 1) + list(sentence) + [1]
            for t in range(order - 1, len(padded)):
                for n in range(1, order + 1):
                    self.count[n][tuple(padded[t - n + 1:t + 1])] += 1
        self.history_total = [Counter() for _ in range(order + 1)]
        self.followers = [defaultdict(set) for _ in range(order + 1)]
        for n in range(1, order + 1):
            for gram, number in self.count[n].items():
                self.history_total[n][gram[:-1]] += number
                self.followers[n][gram[:-1]].add(gram[-1])
        # continuation counts: distinct left extensions of each n-gram, and per middle
        self.left = [defaultdict(set) for _ in range(order + 1)]
        self.middle_total = [Counter() for _ in range(order + 1)]
        for n in range(1, order):
            for gram in self.count[n + 1]:
                self.left[n][gram[1:]].add(gram[0])
                self.middle_total[n][gram[1:-1]] += 1

    def probability(self, history: tuple, word: int) -> float:
        """P(word | the last order-1 tokens of ``history``)."""
        p = 1.0 / self.V
        for n in range(1, self.order + 1):
            h = tuple(history[len(history) - (n - 1):]) if n > 1 else ()
            D = self.discounts[n - 1]
            if self.kn and n < self.order:
                a = len(self.left[n].get(h + (word,), ()))
                A = self.middle_total[n][h]
            else:
                a = self.count[n][h + (word,)]
                A = self.history_total[n][h]
            T = len(self.followers[n].get(h, ()))
            if A > 0:
                p = max(a - D, 0.0) / A + D * T / A * p
        return p


def benchmark_queries(sentences, order):
    """``(history, word)`` of every prediction of held-out ``sentences``, in stream order."""
    queries = []
    for sentence in sentences:
        padded = [0] * (order - 1) + list(sentence) + [1]
        for t in range(order - 1, len(padded)):
            queries.append((tuple(padded[t - order + 1:t]), padded[t]))
    return queries
