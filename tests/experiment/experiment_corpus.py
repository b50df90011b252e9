"""A small synthetic corpus for the proxy-experiment tests (helpers; fixtures are in conftest.py).

Six works in three publishers and two sectors (the layout of ``tests/conftest.py``)::

    sector     S1                  S2
    publisher  P1        P2        P3
    work       a   b     c   d     e   f
    topic      sea sea   farm farm law law

Each topic is a random walk on its own word graph (shared function words, topic
words), so works of one topic share n-grams. The held-out text is a fresh walk on
the ``sea`` graph: leaving out P1 must cost more than leaving out P3. Texts are
written plain, gzip'd, bzip2'd and xz'd, to exercise every loader.

Randomness only comes from ``numpy.random.default_rng(<literal seed>)``.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
from pathlib import Path

import numpy as np
import pandas as pd

from expert.experiment import ExperimentSpec

FUNCTION_WORDS = "the a of and to in is was it that with for on by".split()
TOPICS = {
    "sea": "ship sail harbour wave captain anchor tide island storm crew deck mast".split(),
    "farm": "wheat barn tractor harvest cattle field plough orchard hay seed barley goat".split(),
    "law": "court judge statute verdict appeal counsel jury motion ruling clause witness bail".split(),
}
WORKS = [
    ("a", "P1", "S1", "sea", "txt"),
    ("b", "P1", "S1", "sea", "txt.gz"),
    ("c", "P2", "S1", "farm", "txt.bz2"),
    ("d", "P2", "S1", "farm", "txt.xz"),
    ("e", "P3", "S2", "law", "txt"),
    ("f", "P3", "S2", "law", "txt"),
]


def walk_text(topic: str, n_sentences: int, rng: np.random.Generator, graph_seed: int) -> str:
    """Sentences from a random walk on ``topic``'s word graph (the graph depends only on ``graph_seed``)."""
    words = FUNCTION_WORDS + TOPICS[topic]
    graph_rng = np.random.default_rng(graph_seed)
    successors = {word: graph_rng.choice(words, size=4, replace=False) for word in words}
    sentences = []
    for _ in range(n_sentences):
        word = rng.choice(TOPICS[topic])
        sentence = [word]
        for _ in range(int(rng.integers(4, 11))):
            word = rng.choice(successors[word])
            sentence.append(word)
        sentence[0] = sentence[0].capitalize()
        sentences.append(" ".join(sentence) + ".")
    # a few sentences per line, like paragraphs
    lines = [" ".join(sentences[i:i + 3]) for i in range(0, len(sentences), 3)]
    return "\n".join(lines) + "\n"


GRAPH_SEEDS = {"sea": 11, "farm": 12, "law": 13}


def write_text(path: Path, text: str) -> None:
    data = text.encode("utf-8")
    name = path.name
    if name.endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    elif name.endswith(".bz2"):
        data = bz2.compress(data)
    elif name.endswith(".xz"):
        data = lzma.compress(data)
    path.write_bytes(data)


def groupings_of(works: pd.DataFrame, columns: dict) -> dict:
    """Grouping name -> (groups, membership) from works columns, groups in order of appearance."""
    out = {}
    for name, column in columns.items():
        codes, uniques = pd.factorize(works[column], sort=False)
        out[name] = (tuple(str(u) for u in uniques), codes.astype(np.int64))
    return out


def make_spec(**overrides) -> ExperimentSpec:
    """A small, fast experiment over the synthetic corpus; keyword arguments replace top-level keys."""
    data = {
        "text_column": "text",
        "benchmark": {"texts": ["heldout/*"], "item_tokens": 16, "name": "heldout"},
        "model": {"order": 3, "smoothing": "kneser_ney", "discount": 0.75, "vocabulary": {"min_count": 1}},
        "metrics": ["bits_per_token"],
        "seeds": [1, 2, 3],
        "subsample": 0.8,
        "design": {"full": True, "none": True, "loo": ["work", "publisher", "sector"]},
    }
    data.update(overrides)
    return ExperimentSpec.model_validate(data)
