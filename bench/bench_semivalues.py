"""Benchmark: exact Shapley, Banzhaf and Beta(16,1) values from complete coalition tables.

For k = 12, 16 and 20 players, builds the utility vector of a synthetic submodular
game over all 2^k coalition bitmasks, v(S) = 1 - exp(-sum_{i in S} w_i), then times
``semivalue_coefficients`` + ``semivalue_matrix`` (the dense k x 2^k weight matrix)
and the matrix-vector product ``W @ u`` for each method. Each k runs in a fresh
subprocess so that its peak memory (RSS high-water mark, ``resource.getrusage``)
is its own.

At k = 12 the same game is valued by pyDVL 0.10 (``ShapleyValuation``,
``BanzhafValuation`` and ``BetaShapleyValuation`` with a
``DeterministicUniformSampler``: every subset of the others, for every player)
through a custom utility that looks coalitions up in the same table. pyDVL 0.10
pins ``numpy<2``, so it may live in another virtual environment: pass its
interpreter with ``--pydvl-python`` (or ``EXPERT_BENCH_PYDVL_PYTHON``) and the
reference part runs there on the same utilities (saved as .npy). pyDVL is
skipped, with a note, when neither this interpreter nor the given one has it.

Prints a JSON summary.

Run: python bench/bench_semivalues.py [--sizes 12 16 20] [--pydvl-python /path/to/python]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

METHODS = (("shapley", 1.0, 1.0), ("banzhaf", 1.0, 1.0), ("beta", 16.0, 1.0))
PYDVL_SIZE = 12
SEED = 20240601


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def submodular_game(n_players: int, seed: int = SEED) -> np.ndarray:
    """v(S) = 1 - exp(-sum_{i in S} w_i) over masks 0 .. 2^k - 1, w ~ U(0.05, 0.3).

    Built by doubling: after adding player i, the second half (bit i set) is the first plus w_i.
    """
    weights = np.random.default_rng(seed).uniform(0.05, 0.3, n_players)
    sums = np.zeros(1)
    for weight in weights:
        sums = np.concatenate([sums, sums + weight])
    return -np.expm1(-sums)


def run_expert(n_players: int, n_repeats: int = 3) -> dict:
    """Weight matrices and values of the three semivalues at one k (run in a fresh process)."""
    from expert.valuation.semivalues import semivalue_coefficients, semivalue_matrix

    start = time.perf_counter()
    utilities = submodular_game(n_players)
    game_seconds = time.perf_counter() - start
    baseline = peak_rss_mb()
    record = {"k": n_players, "n_coalitions": 1 << n_players, "n_repeats": n_repeats, "game_seconds": game_seconds,
              "dense_matrix_mb": n_players * (1 << n_players) * 8 / 2**20, "baseline_rss_mb": baseline, "methods": {}}
    for method, alpha, beta in METHODS:
        label = method if method != "beta" else f"beta({alpha:g},{beta:g})"
        matrix_seconds, apply_seconds = [], []
        for _ in range(n_repeats):  # best of n_repeats: the first call pays for page faults and warm-up
            start = time.perf_counter()
            matrix = semivalue_matrix(n_players, semivalue_coefficients(n_players, method, alpha, beta))
            matrix_seconds.append(time.perf_counter() - start)
            start = time.perf_counter()
            values = matrix @ utilities
            apply_seconds.append(time.perf_counter() - start)
            del matrix
        record["methods"][label] = {"matrix_seconds": min(matrix_seconds), "apply_seconds": min(apply_seconds),
                                    "first_call_seconds": matrix_seconds[0] + apply_seconds[0],
                                    "values": values.tolist()}
    shapley = np.asarray(record["methods"]["shapley"]["values"])
    record["shapley_efficiency_error"] = float(abs(shapley.sum() - (utilities[-1] - utilities[0])))
    record["total_seconds"] = game_seconds + sum(m["matrix_seconds"] + m["apply_seconds"]
                                                 for m in record["methods"].values())
    record["peak_rss_mb"] = peak_rss_mb()
    return record


def run_pydvl(utilities: np.ndarray) -> dict:
    """pyDVL 0.10 exact values over every subset (DeterministicUniformSampler), one player at a time."""
    import warnings

    warnings.simplefilter("ignore", FutureWarning)
    import pydvl
    from pydvl.valuation import (BanzhafValuation, BetaShapleyValuation, Dataset, DeterministicUniformSampler,
                                 NoStopping, ShapleyValuation)
    from pydvl.valuation.utility.base import UtilityBase

    n_players = int(np.log2(len(utilities)))

    class MaskUtility(UtilityBase):
        """Looks up v(S) in the table of utilities by the bitmask of the sample's subset."""

        def __init__(self, table):
            self.table = table

        def __call__(self, sample) -> float:
            if sample is None or len(sample.subset) == 0:
                return float(self.table[0])
            return float(self.table[int(np.sum(np.left_shift(1, np.asarray(sample.subset, dtype=np.int64))))])

        def with_dataset(self, data, copy=True):
            utility = type(self)(self.table) if copy else self
            utility._training_data = data
            return utility

    data = Dataset(np.arange(n_players, dtype=float).reshape(-1, 1), np.zeros(n_players))
    result = {"version": pydvl.__version__, "numpy": np.__version__, "methods": {}}
    for label, cls, options in (("shapley", ShapleyValuation, {}), ("banzhaf", BanzhafValuation, {}),
                                ("beta(16,1)", BetaShapleyValuation, {"alpha": 16.0, "beta": 1.0})):
        sampler = DeterministicUniformSampler()
        start = time.perf_counter()
        valuation = cls(MaskUtility(utilities), sampler=sampler, is_done=NoStopping(sampler), progress=False,
                        **options).fit(data)
        seconds = time.perf_counter() - start
        values = np.empty(n_players)
        values[np.asarray(valuation.result.indices, dtype=int)] = valuation.result.values
        result["methods"][label] = {"seconds": seconds, "values": values.tolist(),
                                    "n_utility_calls": n_players * (1 << (n_players - 1)) * 2}
    result["peak_rss_mb"] = peak_rss_mb()
    return result


def pydvl_reference(utilities: np.ndarray, python: str | None) -> dict:
    """Run :func:`run_pydvl` here if pyDVL imports, else in ``python``; or say why not."""
    try:
        import pydvl  # noqa: F401

        return run_pydvl(utilities)
    except ImportError:
        pass
    if not python:
        return {"skipped": "pyDVL is not installed in this interpreter and no --pydvl-python was given"}
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "utilities.npy"
        np.save(path, utilities)
        done = subprocess.run([python, __file__, "--pydvl-worker", str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        last = done.stderr.strip().splitlines()[-1:] or [f"exit status {done.returncode}"]
        return {"skipped": f"pyDVL worker failed in {python}: {last[0]}"}
    result = json.loads(done.stdout)
    result["python"] = python
    return result


def compare(expert_record: dict, reference: dict) -> dict:
    if "skipped" in reference:
        return reference
    rows = {}
    for label, ours in expert_record["methods"].items():
        theirs = reference["methods"][label]
        ours_seconds = ours["matrix_seconds"] + ours["apply_seconds"]  # best of n_repeats
        rows[label] = {"expert_seconds": ours_seconds, "pydvl_seconds": theirs["seconds"],
                       "speedup": theirs["seconds"] / ours_seconds,
                       "max_abs_difference": float(np.max(np.abs(np.asarray(ours["values"]) - theirs["values"])))}
    return {"pydvl_version": reference["version"], "pydvl_numpy": reference["numpy"],
            "pydvl_python": reference.get("python", sys.executable), "pydvl_peak_rss_mb": reference["peak_rss_mb"],
            "k": PYDVL_SIZE, "methods": rows,
            "note": "pyDVL calls the utility once per (player, subset of the others) pair, k 2^k lookups through "
                    "Python objects; expert builds one k x 2^k matrix. Both are exact: the times compare "
                    "bookkeeping, not model training, which dominates in practice."}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[12, 16, 20])
    parser.add_argument("--pydvl-python", default=os.environ.get("EXPERT_BENCH_PYDVL_PYTHON"),
                        help="an interpreter with pydvl==0.10.* (pyDVL pins numpy<2)")
    parser.add_argument("--single", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--pydvl-worker", help=argparse.SUPPRESS)
    parser.add_argument("--keep-values", action="store_true", help="keep the value vectors in the summary")
    args = parser.parse_args()

    if args.pydvl_worker:
        print(json.dumps(run_pydvl(np.load(args.pydvl_worker))))
        return
    if args.single is not None:
        print(json.dumps(run_expert(args.single)))
        return

    records = []
    for n_players in args.sizes:
        done = subprocess.run([sys.executable, __file__, "--single", str(n_players)], capture_output=True, text=True,
                              check=True)
        records.append(json.loads(done.stdout))
    by_size = {record["k"]: record for record in records}
    expert_small = by_size.get(PYDVL_SIZE) or json.loads(subprocess.run(
        [sys.executable, __file__, "--single", str(PYDVL_SIZE)], capture_output=True, text=True, check=True).stdout)
    comparison = compare(expert_small, pydvl_reference(submodular_game(PYDVL_SIZE), args.pydvl_python))

    summary = {"game": "v(S) = 1 - exp(-sum w_i), w ~ U(0.05, 0.3), seed %d" % SEED, "python": sys.version.split()[0],
               "numpy": np.__version__, "expert": [], "pydvl_comparison": comparison}
    for record in records:
        row = {key: value for key, value in record.items() if key != "methods"}
        row["methods"] = {label: {key: value for key, value in method.items() if key != "values" or args.keep_values}
                          for label, method in record["methods"].items()}
        summary["expert"].append(row)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
