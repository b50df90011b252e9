"""Benchmark: proxy ablation experiments on the State of the Union case (cases/sotu).

Each scenario runs in a fresh process with an empty cache, so the figures include
reading and tokenising the texts, the n-gram index and the seed tables. Scenarios (all at
the case's 5 seeds, trigram Kneser-Ney, 895 benchmark items of 64 tokens):

- ``loo-works``: the full model and every one of the 242 training addresses left out
  (the other 7 of the 249 addresses are the held-out benchmark);
- ``loo-groups``: the full model and every president (41) and party (7) left out;
- ``shapley-parties``: all 2^7 = 128 coalitions of the 7 parties (exact Shapley);
- ``case-default``: the case's own design (full, none, LOO of works, presidents, parties).

For each: wall time, time per step, (configuration, seed) pairs per second (evaluation
only and end to end), and peak memory (max RSS of the main process and of the largest
worker, from /proc/<pid>/status VmHWM; Linux). Each scenario runs with ``--jobs 1`` and ``--jobs 2``.

Run: python bench/bench_ablate.py [--jobs 1,2] [--scenarios loo-works,...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASE = ROOT / "cases" / "sotu" / "case.yaml"

SCENARIOS = {
    "loo-works": {"full": True, "loo": ["work"]},
    "loo-groups": {"full": True, "loo": ["president", "party"]},
    "shapley-parties": {"full": False, "exhaustive": "party"},
    "case-default": None,
}

CHILD = """
import json, os, resource, sys, tempfile, time
from pathlib import Path
import pandas as pd, yaml
from expert.experiment import ExperimentSpec, cached_run_table

case = Path(sys.argv[1]); design = json.loads(sys.argv[2]); jobs = int(sys.argv[3])
document = yaml.safe_load(case.read_text())
block = document["evidence"]["experiment"]
if design is not None:
    block = dict(block, design=design)
spec = ExperimentSpec.model_validate(block)
works = pd.read_csv(case.parent / document["works"], dtype=str, keep_default_na=False)
groupings = {}
for name, grouping in document["groupings"].items():
    codes, uniques = pd.factorize(works[grouping["by"]], sort=False)
    groupings[name] = (tuple(uniques), codes)
with tempfile.TemporaryDirectory() as cache:
    start = time.perf_counter()
    result = cached_run_table(case.parent, works, groupings, spec, jobs=jobs, cache_dir=Path(cache))
    wall = time.perf_counter() - start
pairs = result.n_configurations * result.n_seeds


def worker_peaks():
    # peak RSS (VmHWM, MB) of every live descendant process (the loky workers), from /proc
    parents, peaks = {}, {}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
        except OSError:
            continue
        pid = int(status.parent.name)
        parents[pid] = int(fields["PPid"])
        if "VmHWM" in fields:
            peaks[pid] = int(fields["VmHWM"].split()[0]) / 1024
    def descends(pid):
        while pid in parents and pid > 1:
            pid = parents[pid]
            if pid == os.getpid():
                return True
        return False
    return [round(peak, 1) for pid, peak in peaks.items() if descends(pid)]


workers = worker_peaks()
print(json.dumps({
    "configurations": result.n_configurations, "seeds": result.n_seeds, "items": result.n_items,
    "rows": len(result.table), "pairs": pairs, "wall_seconds": round(wall, 2),
    "steps_seconds": {key: round(value, 2) for key, value in result.seconds.items()},
    "pairs_per_second_evaluate": round(pairs / result.seconds["evaluate"], 1),
    "pairs_per_minute_end_to_end": round(60 * pairs / wall),
    "peak_rss_mb_main": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    "peak_rss_mb_workers": sorted(workers, reverse=True),
}))
"""


def run(scenario: str, jobs: int) -> dict:
    load = os.getloadavg()[0]  # other processes on the machine skew the figures, jobs=2 most
    start = time.perf_counter()
    completed = subprocess.run([sys.executable, "-c", CHILD, str(CASE), json.dumps(SCENARIOS[scenario]), str(jobs)],
                               capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise SystemExit(f"{scenario} (jobs={jobs}) failed:\n{completed.stderr}")
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    return {"scenario": scenario, "jobs": jobs, "load_average_before": round(load, 2),
            "process_seconds (incl. imports)": round(time.perf_counter() - start, 2), **report}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", default="1,2", help="comma-separated worker counts (default 1,2)")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated scenarios")
    arguments = parser.parse_args()
    results = [run(scenario, int(jobs)) for scenario in arguments.scenarios.split(",")
               for jobs in arguments.jobs.split(",")]
    json.dump(results, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
