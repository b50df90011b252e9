"""Clustered items: clusters, not items, are resampled; the clustered SE follows Miller (2024)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from expert.errors import EvidenceError
from expert.evidence import read_runs
from expert.case import load_case
from expert.stats.bootstrap import crossed_bootstrap, summarise


def _scores(rng, n_configs=3, n_seeds=4, n_clusters=12):
    base = rng.random((n_configs, n_seeds, n_clusters)) < 0.6
    return base.astype(float)


def test_duplicated_items_in_clusters_equal_the_collapsed_data():
    rng = np.random.default_rng(20261204)
    collapsed = _scores(rng)
    m = 3  # every cluster holds 3 identical items
    clustered = np.repeat(collapsed, m, axis=2)
    membership = np.repeat(np.arange(collapsed.shape[2]), m)
    mask = np.ones(collapsed.shape[:2], dtype=bool)
    a = crossed_bootstrap([clustered], mask, 600, seed=5, clusters=[membership])
    b = crossed_bootstrap([collapsed], mask, 600, seed=5)
    np.testing.assert_allclose(a.utilities, b.utilities, atol=1e-15)
    np.testing.assert_allclose(a.replicates, b.replicates, atol=1e-12)  # the same draws, cluster by cluster
    weights = sp.csr_array(np.array([[1.0, -1.0, 0.0], [1.0, 0.0, -1.0]]))
    sa = summarise(weights, a, analytic_below=0)[0]
    sb = summarise(weights, b, analytic_below=0)[0]
    np.testing.assert_allclose(sa.ci_low, sb.ci_low, atol=1e-12)  # BCa: the cluster jackknife is the item jackknife
    np.testing.assert_allclose(sa.ci_high, sb.ci_high, atol=1e-12)


def test_clustered_standard_error_matches_the_hand_formula():
    rng = np.random.default_rng(7)
    scores = rng.random((2, 1, 30))  # one seed: the analytic SE is the item (cluster) part alone
    membership = np.repeat(np.arange(6), 5)
    boot = crossed_bootstrap([scores], np.ones((2, 1), bool), 50, seed=1, clusters=[membership])
    summary = summarise(sp.csr_array(np.array([[1.0, -1.0]])), boot)[0]
    d = scores[0, 0] - scores[1, 0]
    centred = d - d.mean()
    expected = np.sqrt(sum(centred[membership == c].sum() ** 2 for c in range(6)) / len(d) ** 2)
    assert summary.se_analytic[0] == pytest.approx(expected, rel=1e-12)


def _case(tmp_path, cluster_of):
    (tmp_path / "works.csv").write_text("id\na\nb\n")
    (tmp_path / "case.yaml").write_text("matter: {title: T, date: 2026-01-01}\nworks: works.csv\n"
                                        "groupings: {work: {by: id}}\nevidence: {runs: runs.csv}\n"
                                        "analysis: {bootstrap: {resamples: 99}}\n")
    rows = []
    for spelling in ("", "work:a"):
        for seed in (1, 2):
            for item in range(6):
                rows.append((f"{spelling}{seed}", seed, spelling, "b", f"i{item}", cluster_of(spelling, item),
                             float(item % 2)))
    pd.DataFrame(rows, columns=["run", "seed", "removed", "benchmark", "item", "cluster", "score"]).to_csv(
        tmp_path / "runs.csv", index=False)
    return load_case(tmp_path / "case.yaml")


def test_run_table_clusters_are_read(tmp_path):
    runs = read_runs(_case(tmp_path, lambda spelling, item: f"passage{item // 2}"))
    assert runs.has_clusters and runs.clusters[0].tolist() == [0, 0, 1, 1, 2, 2]
    assert "cluster" not in runs.unused_columns


def test_an_item_in_two_clusters_is_an_error(tmp_path):
    case = _case(tmp_path, lambda spelling, item: f"passage{item // 2}" if spelling == "" else f"p{item}")
    with pytest.raises(EvidenceError, match="cluster: expected one cluster per item"):
        read_runs(case)
