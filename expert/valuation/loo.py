"""Group leave-one-out and the grouping gap (METHODS.md A1).

``LOO(G) = v(N) - v(N \\ G)``: the but-for value of group G, one row of +1 on
the full model and -1 on the configuration without G. The grouping gap of a
coarser group G relative to a finer grouping F is
``Gamma(G) = LOO(G) - sum of LOO(f) over the groups f of F inside G``; under
diminishing returns it is non-negative (the grouping lemma).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..case import Case
from ..design import Design
from .weights import Valuation, rows_from_triplets

__all__ = ["leave_one_out", "grouping_gap"]


def leave_one_out(case: Case, design: Design, n_configurations: int) -> Valuation:
    """LOO of every group, at every grouping, whose configuration exists.

    Parameters
    ----------
    case : Case
    design : Design
    n_configurations : int

    Returns
    -------
    Valuation
        Rows ``grouping, group, method='loo', n_works, configuration``.
    """
    records, entries = [], []
    if design.full is None:
        return Valuation(pd.DataFrame(columns=["grouping", "group", "method", "n_works", "configuration"]),
                         rows_from_triplets([], n_configurations))
    for coverage in design.coverage:
        for group, configuration, size in zip(coverage.groups, coverage.loo_configuration, coverage.sizes):
            if configuration is None:
                continue
            records.append({"grouping": coverage.grouping, "group": group, "method": "loo",
                            "n_works": int(size), "configuration": int(configuration)})
            entries.append([(design.full, 1.0), (configuration, -1.0)])
    return Valuation(pd.DataFrame.from_records(records, columns=["grouping", "group", "method", "n_works", "configuration"]),
                     rows_from_triplets(entries, n_configurations))


def grouping_gap(case: Case, design: Design, n_configurations: int) -> Valuation:
    """The grouping gap of every coarser group whose parts all have a LOO configuration.

    For each pair of groupings (finer before coarser in the case) and each
    coarser group G that is a union of finer groups, all with LOO evidence,
    two rows: ``method='sum_of_parts'`` (the sum of the parts' LOO) and
    ``method='grouping_gap'`` (LOO(G) minus that sum).

    Returns
    -------
    Valuation
        Rows ``grouping, group, method, finer, n_parts, n_works``.
    """
    columns = ["grouping", "group", "method", "finer", "n_parts", "n_works"]
    records, entries = [], []
    if design.full is None:
        return Valuation(pd.DataFrame(columns=columns), rows_from_triplets([], n_configurations))
    full = design.full
    for position, finer in enumerate(case.groupings):
        finer_cover = design.of(finer.name)
        for coarser in case.groupings[position + 1:]:
            coarse_cover = design.of(coarser.name)
            for coarse_index, group in enumerate(coarser.groups):
                coarse_config = coarse_cover.loo_configuration[coarse_index]
                if coarse_config is None:
                    continue
                members = coarser.membership == coarse_index
                parts = np.unique(finer.membership[members])
                # every part must lie inside G, and must differ from G itself
                if len(parts) < 2 or np.any(coarser.membership[np.isin(finer.membership, parts)] != coarse_index):
                    continue
                part_configs = [finer_cover.loo_configuration[part] for part in parts]
                if any(config is None for config in part_configs):
                    continue
                sum_parts = [(full, float(len(parts)))] + [(config, -1.0) for config in part_configs]
                gap = [(full, 1.0), (coarse_config, -1.0)] + [(full, -float(len(parts)))] + [
                    (config, 1.0) for config in part_configs]
                for method, pairs in (("sum_of_parts", sum_parts), ("grouping_gap", gap)):
                    records.append({"grouping": coarser.name, "group": group, "method": method, "finer": finer.name,
                                    "n_parts": int(len(parts)), "n_works": int(members.sum())})
                    entries.append(pairs)
    return Valuation(pd.DataFrame.from_records(records, columns=columns), rows_from_triplets(entries, n_configurations))
