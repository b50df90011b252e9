"""Benchmark: crossed bootstrap of 200 configurations x 10 seeds x 3,000 items x 9,999 replicates.

Reports wall time and peak memory (RSS high-water mark) of expert.stats.crossed_bootstrap plus
the interval summary of 200 LOO contrasts, and the speed-up over a straightforward
per-replicate loop (fancy-indexing the score array once per replicate) measured on the same
data with fewer replicates, per replicate, in the same run.

Run: python bench/bench_bootstrap.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time

import numpy as np
import scipy.sparse as sp

from expert.stats.bootstrap import crossed_bootstrap, summarise


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def loop_bootstrap(scores, n_resamples, seed):
    """The straightforward way: one replicate at a time, index, average."""
    rng = np.random.default_rng(seed)
    n_configs, n_seeds, n_items = scores.shape
    out = np.empty((n_configs, n_resamples))
    for b in range(n_resamples):
        seeds = rng.integers(0, n_seeds, n_seeds)
        items = rng.integers(0, n_items, n_items)
        out[:, b] = scores[:, seeds][:, :, items].mean(axis=(1, 2))
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="smaller sizes for a smoke run")
    args = parser.parse_args()
    n_configs, n_seeds, n_items, n_resamples = (200, 10, 3000, 9999) if not args.quick else (50, 5, 500, 999)
    rng = np.random.default_rng(20261204)
    ability = rng.normal(0.6, 0.02, n_configs)[:, None, None]
    seed_effect = rng.normal(0, 0.01, (1, n_seeds, 1))
    difficulty = rng.normal(0, 0.3, (1, 1, n_items))
    uniform = rng.random((1, n_seeds, n_items))
    scores = (uniform < np.clip(ability + seed_effect + difficulty, 0, 1)).astype(np.float64)
    scores = np.broadcast_to(scores, (n_configs, n_seeds, n_items)).copy()
    mask = np.ones((n_configs, n_seeds), dtype=bool)
    baseline_rss = peak_rss_mb()

    start = time.perf_counter()
    boot = crossed_bootstrap([scores], mask, n_resamples, seed=1)
    boot_seconds = time.perf_counter() - start
    weights = sp.hstack([sp.csr_array(np.ones((n_configs - 1, 1))), -sp.identity(n_configs - 1)]).tocsr()
    start = time.perf_counter()
    summarise(weights, boot)
    summary_seconds = time.perf_counter() - start
    peak = peak_rss_mb()

    loop_resamples = 50 if not args.quick else 100
    start = time.perf_counter()
    loop_bootstrap(scores, loop_resamples, seed=1)
    loop_per_replicate = (time.perf_counter() - start) / loop_resamples
    vector_per_replicate = boot_seconds / n_resamples
    result = {
        "size": f"{n_configs} configurations x {n_seeds} seeds x {n_items} items x {n_resamples} replicates",
        "bootstrap_seconds": round(boot_seconds, 2),
        "summary_seconds (199 LOO contrasts, BCa + analytic)": round(summary_seconds, 2),
        "peak_rss_mb": round(peak, 1),
        "rss_before_mb (score array built)": round(baseline_rss, 1),
        "loop_ms_per_replicate": round(loop_per_replicate * 1000, 2),
        "vectorised_ms_per_replicate": round(vector_per_replicate * 1000, 3),
        "speedup": round(loop_per_replicate / vector_per_replicate, 1),
    }
    json.dump(result, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
