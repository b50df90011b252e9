"""Coverage study: do the nominal 95 % intervals of the crossed bootstrap cover planted effects?

Simulates ablation experiments with known (planted) configuration utilities and
measures, over many simulated experiments, how often the intervals from
``expert.stats.bootstrap.crossed_bootstrap`` + ``summarise`` contain the true
value of every leave-one-out (LOO) contrast and every exact Shapley value, at 3, 5
and 10 matched seeds, for percentile and BCa intervals, with and without the
analytic t widening that ``summarise`` applies below 10 seeds (METHODS.md B2-B3).

The planted game has ``k`` groups (players) and a diminishing-returns utility

    v(S) = base + scale * (1 - exp(-sum_{i in S} w_i))

evaluated on every one of the 2^k coalitions (configurations). Scores of
configuration c, seed s, item j are

    y[c, s, j] = v(c) + seed[s] + gamma[c, s] + item[j] + eta[c, j] + eps[c, s, j]

- ``seed[s]``: seed noise shared by every configuration trained with seed s (matched seeds);
- ``gamma[c, s]``: configuration x seed noise (what matched seeds cannot cancel);
- ``item[j]``: item difficulty shared by every configuration (paired items, common random numbers);
- ``eta[c, j]``: configuration x item interaction (fresh items each simulation);
- ``eps[c, s, j]``: within-item noise (sampling, e.g. temperature).

Every noise term has mean zero over its super-population, so the estimand of a
linear valuation ``W @ u`` is ``W @ v``. Each simulation draws new seeds and items.

Coverage is the share of (simulation, value) pairs whose interval contains the
truth; its Monte-Carlo error is the standard error over simulations of the
per-simulation coverage (values within a simulation share the draw, so they are
not independent). "SE ratio" is the mean reported standard error over the exact SD of
the estimator, ``||w|| sqrt(s_cs^2 / R + s_ci^2 / n + s_res^2 / (R n))`` for a row ``w``
summing to zero (1 = calibrated; the JSON also has the Monte-Carlo SD over the exact SD
as a check of the simulation). "Worst value" is the lowest coverage of any single value.

Two noise scenarios are run: seed noise dominating the contrasts (the few-seed regime),
and within-item noise dominating (as with per-item accuracy), where the crossed bootstrap
counts the seed x item interaction in both the seed and the item resampling and is
conservative (Owen 2007).

Run: python bench/bench_coverage.py [--quick] [--simulations N] [--resamples B] [--scenario NAME]
     [--workers W] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from itertools import product

# one BLAS thread per process: the matrices are small and the workers use the cores
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import numpy as np  # noqa: E402

from expert.stats.bootstrap import DegenerateIntervalWarning, crossed_bootstrap, summarise  # noqa: E402

SEEDS = (3, 5, 10)
INTERVALS = ("percentile", "bca")
# (label, analytic_below): "reported" is what the tool reports (the analytic t interval is computed at
# every seed count and used when its SE is larger); "below 10 only" is METHODS B2's rule; "bootstrap"
# switches the widening off
VARIANTS = (("reported", 10**9), ("below 10 only", 10), ("bootstrap only", 0))

GAME = {
    "weights": (1.0, 0.6, 0.35, 0.2, 0.1),  # k = 5 groups, from large to small contributions
    "base": 0.50,
    "scale": 0.15,
}
# seed_sd: shared by matched seeds (cancels in contrasts); config_seed_sd: configuration x seed;
# item_sd: shared item difficulty (cancels in paired contrasts); config_item_sd: configuration x
# item; residual_sd: within (configuration, seed, item)
SCENARIOS = {
    # seed noise dominates the contrasts: the few-seed regime where the bootstrap under-states
    # variance by (R - 1) / R and seed resampling is coarse
    "seed-dominated": {"seed_sd": 0.010, "config_seed_sd": 0.012, "item_sd": 0.25, "config_item_sd": 0.04,
                       "residual_sd": 0.02, "n_items": 500},
    # within-item noise dominates (as for per-item accuracy): the seed x item interaction is
    # counted by both the seed and the item resampling
    "within-item-dominated": {"seed_sd": 0.010, "config_seed_sd": 0.006, "item_sd": 0.25, "config_item_sd": 0.04,
                              "residual_sd": 0.15, "n_items": 500},
}


def coalition_utilities(weights, base, scale) -> np.ndarray:
    """True utility of every coalition, indexed by bit mask (bit i set: group i included)."""
    k = len(weights)
    masks = np.arange(2**k)
    members = (masks[:, None] >> np.arange(k)[None, :]) & 1
    return base + scale * (1.0 - np.exp(-(members @ np.asarray(weights))))


def loo_weights(k: int) -> np.ndarray:
    """Rows: LOO of group i = v(N) - v(N minus i), over the 2^k coalitions."""
    full = 2**k - 1
    matrix = np.zeros((k, 2**k))
    for i in range(k):
        matrix[i, full] = 1.0
        matrix[i, full & ~(1 << i)] = -1.0
    return matrix


def shapley_weights(k: int) -> np.ndarray:
    """Exact Shapley weights: phi_i = sum_{S not containing i} |S|!(k-|S|-1)!/k! (v(S+i) - v(S))."""
    matrix = np.zeros((k, 2**k))
    for i in range(k):
        for mask in range(2**k):
            if mask >> i & 1:
                continue
            size = bin(mask).count("1")
            weight = math.factorial(size) * math.factorial(k - size - 1) / math.factorial(k)
            matrix[i, mask | (1 << i)] += weight
            matrix[i, mask] -= weight
    return matrix


def simulate_scores(rng, utilities, n_seeds, noise) -> np.ndarray:
    n_configs, n_items = utilities.size, noise["n_items"]
    seed = rng.normal(0, noise["seed_sd"], n_seeds)
    gamma = rng.normal(0, noise["config_seed_sd"], (n_configs, n_seeds))
    item = rng.normal(0, noise["item_sd"], n_items)
    eta = rng.normal(0, noise["config_item_sd"], (n_configs, n_items))
    eps = rng.normal(0, noise["residual_sd"], (n_configs, n_seeds, n_items))
    return (utilities[:, None, None] + seed[None, :, None] + gamma[:, :, None] + item[None, None, :]
            + eta[:, None, :] + eps)


def true_std_error(weights, noise, n_seeds) -> np.ndarray:
    """Exact SD of ``W @ u_hat`` for rows summing to zero (shared seed and item effects cancel)."""
    per_config = (noise["config_seed_sd"] ** 2 / n_seeds + noise["config_item_sd"] ** 2 / noise["n_items"]
                  + noise["residual_sd"] ** 2 / (n_seeds * noise["n_items"]))
    return np.sqrt((weights**2).sum(axis=1) * per_config)


def run_one(task):
    """One simulated experiment: returns per (interval, variant) the cover flags, widths and SEs."""
    scenario, n_seeds, index, n_resamples, master_seed = task
    noise = SCENARIOS[scenario]
    key = (list(SCENARIOS).index(scenario), n_seeds, index)
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(master_seed, spawn_key=key)))
    k = len(GAME["weights"])
    utilities = coalition_utilities(GAME["weights"], GAME["base"], GAME["scale"])
    weights = np.vstack([loo_weights(k), shapley_weights(k)])
    truth = weights @ utilities
    scores = simulate_scores(rng, utilities, n_seeds, noise)
    boot = crossed_bootstrap([scores], np.ones((utilities.size, n_seeds), dtype=bool), n_resamples,
                             seed=int(rng.integers(2**31)))
    out = {}
    for interval, (variant, analytic_below) in product(INTERVALS, VARIANTS):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DegenerateIntervalWarning)
            summary = summarise(weights, boot, interval=interval, analytic_below=analytic_below)[0]
        out[(interval, variant)] = {
            "cover": (summary.ci_low <= truth) & (truth <= summary.ci_high),
            "width": summary.ci_high - summary.ci_low,
            "se": summary.std_error,
            "fallback": summary.bca_fallback,
        }
    out["error"] = weights @ boot.utilities[0] - truth
    return scenario, n_seeds, out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run in well under a minute")
    parser.add_argument("--simulations", type=int,
                        help="simulated experiments per (scenario, seed count); default 1000, 75 with --quick")
    parser.add_argument("--resamples", type=int, help="bootstrap replicates B; default 1999, 499 with --quick")
    parser.add_argument("--scenario", choices=list(SCENARIOS), action="append",
                        help="noise scenario(s) to run (default: all)")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--seed", type=int, default=20260101)
    parser.add_argument("--json", help="also write the results as JSON to this path")
    args = parser.parse_args(argv)
    n_sims = args.simulations or (75 if args.quick else 1000)
    n_resamples = args.resamples or (499 if args.quick else 1999)
    scenarios = args.scenario or list(SCENARIOS)
    k = len(GAME["weights"])
    weights = np.vstack([loo_weights(k), shapley_weights(k)])
    tasks = [(scenario, n_seeds, index, n_resamples, args.seed) for scenario in scenarios for n_seeds in SEEDS
             for index in range(n_sims)]

    start = time.perf_counter()
    if args.workers > 1:
        with ProcessPoolExecutor(args.workers) as pool:
            results = list(pool.map(run_one, tasks, chunksize=4))
    else:
        results = [run_one(task) for task in tasks]
    seconds = time.perf_counter() - start

    rows = []
    for scenario, n_seeds in product(scenarios, SEEDS):
        sims = [out for name, seeds, out in results if name == scenario and seeds == n_seeds]
        errors = np.stack([out["error"] for out in sims])  # (n_sims, 2k)
        true_se = true_std_error(weights, SCENARIOS[scenario], n_seeds)
        for family, columns in (("LOO", slice(0, k)), ("Shapley", slice(k, 2 * k))):
            for interval, (variant, _) in product(INTERVALS, VARIANTS):
                cover = np.stack([out[(interval, variant)]["cover"][columns] for out in sims])
                per_sim = cover.mean(axis=1)
                se = np.stack([out[(interval, variant)]["se"][columns] for out in sims])
                width = np.stack([out[(interval, variant)]["width"][columns] for out in sims])
                fallback = np.stack([out[(interval, variant)]["fallback"][columns] for out in sims])
                rows.append({
                    "scenario": scenario, "seeds": n_seeds, "valuation": family, "interval": interval,
                    "variant": variant, "coverage": float(cover.mean()),
                    "mc_error": float(per_sim.std(ddof=1) / np.sqrt(len(sims))),
                    "min_value_coverage": float(cover.mean(axis=0).min()),
                    "se_ratio": float(np.mean(se.mean(axis=0) / true_se[columns])),
                    "mc_sd_over_true_se": float(np.mean(errors[:, columns].std(axis=0, ddof=1) / true_se[columns])),
                    "mean_width": float(width.mean()), "bca_fallback_rate": float(fallback.mean()),
                    "n_simulations": len(sims), "n_values": int(cover.shape[1]),
                })

    print(f"Coverage of nominal 95% intervals: k = {k} groups (2^{k} = {2**k} configurations), "
          f"B = {n_resamples}, {n_sims} simulated experiments per (scenario, seeds), "
          f"{args.workers} worker(s), {seconds:.0f} s")
    header = ("| scenario | seeds | valuation | interval | variant | coverage | MC error | worst value | SE ratio "
              "| mean width | BCa fallback |")
    print(header)
    print("|---" * (header.count("|") - 1) + "|")
    for row in rows:
        print(f"| {row['scenario']} | {row['seeds']} | {row['valuation']} | {row['interval']} | {row['variant']} "
              f"| {row['coverage']:.3f} | {row['mc_error']:.3f} | {row['min_value_coverage']:.3f} "
              f"| {row['se_ratio']:.2f} | {row['mean_width']:.4f} | {row['bca_fallback_rate']:.3f} |")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"game": GAME, "scenarios": SCENARIOS, "n_resamples": n_resamples, "n_simulations": n_sims,
                       "seconds": seconds, "rows": rows}, handle, indent=1)
    return rows


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
