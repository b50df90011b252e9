"""Helpers: a small valid case written as text, so that hardening tests can break it one byte at a time.

The case has 12 works in 4 publishers and 2 sectors (``work < publisher < sector``
nests)::

    sector     S1                      S2
    publisher  P1          P2          P3          P4
    work       w01 w02 w03 w04 w05 w06 w07 w08 w09 w10 w11 w12

and a run table with the full model and seven leave-out configurations, 3 matched
seeds, 2 benchmarks and 20 items per benchmark (960 rows). The case file is written
by hand (not by a YAML dumper) so that its line numbers are fixed: see
:data:`CASE_LINES`.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

CASE_YAML = """\
matter:
  title: Hardening test matter
  date: 2025-01-31
works: works.csv
groupings:
  work: {by: id}
  publisher: {by: publisher}
  sector: {by: sector}
evidence:
  runs: runs.csv
analysis:
  methods: [loo]
  bootstrap: {resamples: 50, confidence: 0.95, interval: percentile, seed: 1}
report:
  formats: [csv, json]
"""

# 1-based line of each key in CASE_YAML
CASE_LINES = {key: number for number, key in enumerate(
    ["matter", "title", "date", "works", "groupings", "work", "publisher", "sector", "evidence", "runs", "analysis",
     "methods", "bootstrap", "report", "formats"], start=1)}

WORK_IDS = [f"w{index:02d}" for index in range(1, 13)]
PUBLISHERS = ["P1"] * 3 + ["P2"] * 3 + ["P3"] * 3 + ["P4"] * 3
SECTORS = ["S1"] * 6 + ["S2"] * 6
TOKENS = [1000 * (index + 1) for index in range(12)]

CONFIGURATIONS = {  # removed spelling -> planted utility
    "": 0.62,
    "work:w01": 0.618,
    "work:w02": 0.619,
    "work:w07": 0.617,
    "publisher:P1": 0.60,
    "publisher:P3": 0.598,
    "sector:S1": 0.55,
    "sector:S2": 0.54,
}
BENCHMARKS = ("arc", "piqa")
N_SEEDS = 3
N_ITEMS = 20
RUN_COLUMNS = ["run", "seed", "removed", "benchmark", "item", "score"]


def works_csv() -> str:
    lines = ["id,publisher,sector,tokens"]
    lines += [f"{w},{p},{s},{t}" for w, p, s, t in zip(WORK_IDS, PUBLISHERS, SECTORS, TOKENS)]
    return "\n".join(lines) + "\n"


def run_rows() -> list[list[str]]:
    """The run table as rows of text cells (without the header), in a fixed order.

    Order: configuration, seed, benchmark, item. Row ``r`` (0-based) is line ``r + 2``
    of runs.csv.
    """
    rng = np.random.default_rng(20250131)
    seed_effect = rng.normal(0, 0.01, N_SEEDS)
    item_effect = {b: rng.normal(0, 0.1, N_ITEMS) for b in BENCHMARKS}
    rows = []
    for c, (removed, utility) in enumerate(CONFIGURATIONS.items()):
        for s in range(N_SEEDS):
            for b in BENCHMARKS:
                noise = rng.normal(0, 0.02, N_ITEMS)
                for j in range(N_ITEMS):
                    score = utility + seed_effect[s] + item_effect[b][j] + noise[j]
                    rows.append([f"c{c}-s{s + 1}", str(s + 1), removed, b, f"{b}-{j:02d}", f"{score:.6f}"])
    return rows


def rows_to_csv(rows, header=RUN_COLUMNS, delimiter=",") -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
    if header is not None:
        writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def write_small_case(folder: Path) -> Path:
    """Write case.yaml, works.csv and runs.csv into ``folder``; return the case path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "works.csv").write_text(works_csv(), encoding="utf-8")
    (folder / "runs.csv").write_text(rows_to_csv(run_rows()), encoding="utf-8")
    path = folder / "case.yaml"
    path.write_text(CASE_YAML, encoding="utf-8")
    return path
