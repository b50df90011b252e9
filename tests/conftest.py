"""Shared fixtures: a small valid case on disk and run tables built from planted utilities.

The default case has six works in three publishers and two sectors, so that
``work < publisher < sector`` nests::

    sector   S1                S2
    publisher P1      P2       P3
    work      a  b    c  d     e  f

Randomness only comes from ``numpy.random.default_rng(<literal seed>)``.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

WORKS = [
    {"id": "a", "publisher": "P1", "sector": "S1", "tokens": "100"},
    {"id": "b", "publisher": "P1", "sector": "S1", "tokens": "200"},
    {"id": "c", "publisher": "P2", "sector": "S1", "tokens": "300"},
    {"id": "d", "publisher": "P2", "sector": "S1", "tokens": "400"},
    {"id": "e", "publisher": "P3", "sector": "S2", "tokens": "500"},
    {"id": "f", "publisher": "P3", "sector": "S2", "tokens": "600"},
]

GROUPINGS = {"work": {"by": "id"}, "publisher": {"by": "publisher"}, "sector": {"by": "sector"}}

# a submodular-looking planted utility per `removed` spelling (bigger losses for bigger groups)
PLANTED = {
    "": 0.60,
    "work:a": 0.595, "work:b": 0.594, "work:c": 0.596, "work:d": 0.597, "work:e": 0.593, "work:f": 0.598,
    "publisher:P1": 0.57, "publisher:P2": 0.575, "publisher:P3": 0.56,
    "sector:S1": 0.45,  # sector S2 is publisher P3: the same configuration
}


def make_run_table(utilities: dict, *, n_seeds: int = 3, n_items: int | None = 20,
                   benchmarks=("bench",), seed_sd: float = 0.01, item_sd: float = 0.1,
                   noise_sd: float = 0.0, rng: np.random.Generator | None = None) -> pd.DataFrame:
    """A long run table from ``{removed_spelling: utility}`` with matched seeds and items.

    The score of configuration c, seed s, item j is
    ``utilities[c] + seed_effect[s] + item_effect[j] - mean effects + noise``, where the
    seed and item effects are shared by every configuration (matched seeds, paired
    items) and centred, so that with ``noise_sd=0`` the mean score of each configuration
    is its planted utility (up to rounding). ``n_items=None`` writes no ``item`` column
    (one score per run and benchmark).
    """
    rng = rng if rng is not None else np.random.default_rng(20240601)
    records = []
    for benchmark_index, benchmark in enumerate(benchmarks):
        seed_effect = rng.normal(0.0, seed_sd, n_seeds)
        seed_effect -= seed_effect.mean()
        n = 1 if n_items is None else n_items
        item_effect = rng.normal(0.0, item_sd, n)
        item_effect -= item_effect.mean()
        for config_index, (spelling, utility) in enumerate(utilities.items()):
            noise = rng.normal(0.0, noise_sd, (n_seeds, n)) if noise_sd else np.zeros((n_seeds, n))
            for s in range(n_seeds):
                run = f"c{config_index}-s{s + 1}"
                for j in range(n):
                    record = {"run": run, "seed": s + 1, "removed": spelling, "benchmark": benchmark,
                              "score": float(utility + seed_effect[s] + item_effect[j] + noise[s, j])}
                    if n_items is not None:
                        record["item"] = f"{benchmark}-{j:03d}"
                    records.append(record)
    columns = ["run", "seed", "removed", "benchmark"] + (["item"] if n_items is not None else []) + ["score"]
    return pd.DataFrame.from_records(records, columns=columns)


def _merge(base: dict, overrides: dict) -> dict:
    """Recursive dict update; a value of ``None`` deletes the key."""
    result = dict(base)
    for key, value in overrides.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = _merge(result[key], value)
        else:
            result[key] = value
    return result


def write_case(tmp_path: Path, works=None, groupings=None, runs=None, runs_name: str = "runs.csv",
               **overrides) -> Path:
    """Write ``case.yaml``, ``works.csv`` and the run table into ``tmp_path``; return the case path.

    Parameters
    ----------
    works : list of dict, DataFrame, or "inline"
        The works (default :data:`WORKS`). ``"inline"`` puts the default works in the YAML.
    groupings : dict
        The ``groupings`` section (default :data:`GROUPINGS`).
    runs : DataFrame or None
        The run table (default: :func:`make_run_table` of :data:`PLANTED`). Written as
        CSV, or Parquet when ``runs_name`` ends with ``.parquet``.
    **overrides
        Sections merged (recursively) into the case; ``None`` deletes a key.
    """
    tmp_path = Path(tmp_path)
    case = {
        "matter": {"title": "Test matter", "date": datetime.date(2025, 1, 31)},
        "works": "works.csv",
        "groupings": GROUPINGS if groupings is None else groupings,
        "evidence": {"runs": runs_name},
        "analysis": {"bootstrap": {"resamples": 200, "seed": 12345}},
    }
    if isinstance(works, str) and works == "inline":
        case["works"] = [dict(work) for work in WORKS]
    else:
        frame = pd.DataFrame(WORKS if works is None else works)
        frame.to_csv(tmp_path / "works.csv", index=False)
    case = _merge(case, overrides)
    table = make_run_table(PLANTED) if runs is None else runs
    if runs_name.endswith(".parquet"):
        table.to_parquet(tmp_path / runs_name, index=False)
    else:
        table.to_csv(tmp_path / runs_name, index=False)
    path = tmp_path / "case.yaml"
    path.write_text(yaml.safe_dump(case, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(name="write_case")
def _write_case_fixture():
    """:func:`write_case`, as a fixture: ``write_case(tmp_path, runs=..., **overrides)``."""
    return write_case


@pytest.fixture(name="make_run_table")
def _make_run_table_fixture():
    """:func:`make_run_table`, as a fixture: ``make_run_table({removed: utility}, ...)``."""
    return make_run_table


@pytest.fixture
def rng():
    return np.random.default_rng(20240601)


@pytest.fixture
def case_path(tmp_path):
    """A valid case with the default works, groupings and planted run table."""
    return write_case(tmp_path)
