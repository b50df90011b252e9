"""Fixtures of the proxy-experiment tests: the synthetic corpus of ``experiment_corpus`` on disk."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from experiment_corpus import GRAPH_SEEDS, WORKS, groupings_of, make_spec, walk_text, write_text


@pytest.fixture
def corpus(tmp_path):
    """``(case_dir, works, groupings)`` of the synthetic corpus."""
    rng = np.random.default_rng(20240601)
    (tmp_path / "texts").mkdir()
    (tmp_path / "heldout").mkdir()
    rows = []
    for work, publisher, sector, topic, suffix in WORKS:
        relative = f"texts/{work}.{suffix}"
        write_text(tmp_path / relative, walk_text(topic, 60, rng, GRAPH_SEEDS[topic]))
        rows.append({"id": work, "publisher": publisher, "sector": sector, "topic": topic, "text": relative})
    write_text(tmp_path / "heldout" / "sea-1.txt", walk_text("sea", 40, rng, GRAPH_SEEDS["sea"]))
    write_text(tmp_path / "heldout" / "sea-2.txt.gz", walk_text("sea", 40, rng, GRAPH_SEEDS["sea"]))
    works = pd.DataFrame(rows)
    works.to_csv(tmp_path / "works.csv", index=False)
    groupings = groupings_of(works, {"work": "id", "publisher": "publisher", "sector": "sector"})
    return tmp_path, works, groupings


@pytest.fixture(name="make_spec")
def _make_spec_fixture():
    return make_spec


@pytest.fixture
def spec():
    return make_spec()
