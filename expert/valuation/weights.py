"""The weight-matrix form shared by every linear valuation."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

__all__ = ["Valuation", "Unavailable", "stack"]


@dataclass(frozen=True)
class Unavailable:
    """A method that the evidence cannot support at a grouping, and why.

    Attributes
    ----------
    grouping, method : str
    reason : str
        One sentence for the report.
    missing : tuple of str
        The first missing configurations (as run-table ``removed`` spellings) or groups.
    n_missing : int
        How many configurations or groups are missing in all.
    """

    grouping: str
    method: str
    reason: str
    missing: tuple[str, ...] = ()
    n_missing: int = 0


@dataclass(frozen=True)
class Valuation:
    """Linear functionals of configuration utilities, with what each one values.

    Attributes
    ----------
    rows : pandas.DataFrame
        One row per valued quantity; at least ``grouping``, ``group``, ``method``.
    weights : scipy.sparse.csr_array, shape (n_rows, n_configurations)
        ``values = weights @ utilities``.
    """

    rows: pd.DataFrame = field(repr=False)
    weights: sp.csr_array = field(repr=False)

    def __post_init__(self):
        if self.weights.shape[0] != len(self.rows):
            raise ValueError(f"weights has {self.weights.shape[0]} rows but rows has {len(self.rows)}")

    def __len__(self) -> int:
        return len(self.rows)

    def apply(self, utilities: np.ndarray) -> np.ndarray:
        """``weights @ utilities`` for utilities of shape (n_configurations, ...)."""
        return np.asarray(self.weights @ utilities)


def stack(valuations: list[Valuation], n_configurations: int) -> Valuation:
    """One :class:`Valuation` holding the rows of several."""
    valuations = [valuation for valuation in valuations if len(valuation)]
    if not valuations:
        return Valuation(pd.DataFrame(columns=["grouping", "group", "method"]), sp.csr_array((0, n_configurations)))
    rows = pd.concat([valuation.rows for valuation in valuations], ignore_index=True)
    weights = sp.vstack([valuation.weights for valuation in valuations], format="csr")
    return Valuation(rows, sp.csr_array(weights))


def rows_from_triplets(entries: list[list[tuple[int, float]]], n_configurations: int) -> sp.csr_array:
    """A CSR matrix whose row ``r`` has the (column, weight) pairs ``entries[r]``."""
    indptr = np.zeros(len(entries) + 1, dtype=np.int64)
    indices, data = [], []
    for row, pairs in enumerate(entries):
        merged: dict[int, float] = {}
        for column, weight in pairs:
            merged[column] = merged.get(column, 0.0) + weight
        columns = sorted(c for c, w in merged.items() if w != 0.0)
        indices.extend(columns)
        data.extend(merged[c] for c in columns)
        indptr[row + 1] = len(indices)
    return sp.csr_array((np.asarray(data, dtype=np.float64), np.asarray(indices, dtype=np.int64), indptr),
                        shape=(len(entries), n_configurations))
