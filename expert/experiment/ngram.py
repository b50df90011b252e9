"""Smoothed word n-gram language models whose training counts add across works.

This module is the numerical core of the proxy experiments (DESIGN.md "Proxy
experiments"). It knows nothing about cases, caches or parallelism: it turns
texts into token ids, builds the per-work count tables of one seed, and scores
the held-out benchmark under the model of any *coalition* of works.

Tokenisation
------------
``lowercase_words``: the text is split into paragraphs at line breaks and into
sentences after ``.``, ``!`` or ``?`` followed by white space (not after a few
abbreviations such as ``Mr.``); each sentence is lower-cased, curly apostrophes
become ``'``, and its tokens are the matches of :data:`TOKEN_PATTERN`
(``[a-z0-9]+(?:'[a-z0-9]+)*``: words, numbers, contractions; punctuation is
dropped). Each sentence is padded with ``order - 1`` start symbols ``<s>`` and
one end symbol ``</s>``; the model predicts every word and the ``</s>``.

The vocabulary is fixed for the whole experiment, like an LLM's tokenizer: the
words that occur at least ``min_count`` times in all training works together
(every sentence, before any subsampling). Other words, in training and in the
benchmark, become ``<unk>``. ``V`` counts the vocabulary words, ``</s>`` and
``<unk>``.

The model
---------
For a history ``h`` of ``n - 1`` words (``h'`` drops its first word) and a
word ``w``, with discount ``0 < D_n < 1``, interpolated Kneser-Ney (Chen and
Goodman 1999, section 3, with one discount per order) is::

    P_n(w | h) = max(a_n(h w) - D_n, 0) / A_n(h) + D_n T_n(h) / A_n(h) * P_{n-1}(w | h')
    P_n(w | h) = P_{n-1}(w | h')                       when A_n(h) = 0
    P_0(w)     = 1 / V

where at the highest order ``N`` the statistics are raw counts::

    a_N(h w) = c(h w)          the occurrences of the n-gram h w
    A_N(h)   = sum_w c(h w)    the occurrences of h as a history
    T_N(h)   = N1+(h .)        the distinct words seen after h

and below it continuation counts (``N1+(. h w)`` is the number of distinct
words ``v`` with ``c(v h w) > 0``)::

    a_n(h w) = N1+(. h w),   A_n(h) = N1+(. h .),   T_n(h) = N1+(h .)

Interpolated absolute discounting (Ney, Essen and Kneser 1994) uses the raw
counts ``c(h w)`` and ``sum_w c(h w)`` at every order and ``T_n(h) = N1+(h .)``.
Both distributions sum to one over the ``V`` words. Discounts are fixed
hyperparameters (0.75 by default), the same for every configuration.

Additivity
----------
The raw counts of a coalition are the *sums* of its works' counts. The type
counts ``N1+`` are not sums: an n-gram counts once however many works contain
it. They are computed exactly from the per-work *presence* of each n-gram: an
n-gram is absent from a coalition exactly when every work that contains it is
left out. A configuration therefore costs work proportional to the works it
removes (or keeps, whichever is fewer), not to the corpus; everything before
the final probabilities is integer arithmetic, so results do not depend on the
order in which works are summed. Only the n-grams and histories that the
benchmark queries (and the n-grams whose presence changes those statistics)
are tabulated.

For coalitions of the groups of a grouping with few groups (exact Shapley over
``k`` sectors, sampled coalitions of publishers), :func:`build_group_tables`
precomputes, for every bitmask of groups, the type counts of the n-grams found
only in those groups (a subset-sum transform over the ``2^k`` masks), so each
coalition then costs one row lookup and ``k`` row sums.

References
----------
Chen, S. F. and Goodman, J. (1999). An empirical study of smoothing techniques
for language modeling. Computer Speech and Language 13(4), 359-394.

Ney, H., Essen, U. and Kneser, R. (1994). On structuring probabilistic
dependences in stochastic language modelling. Computer Speech and Language
8(1), 1-38.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass, field, replace
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

__all__ = [
    "TOKEN_PATTERN",
    "BOS",
    "EOS",
    "UNK",
    "split_sentences",
    "Vocabulary",
    "build_vocabulary",
    "EncodedTexts",
    "encode_texts",
    "encode_documents",
    "kept_sentences",
    "NgramIndex",
    "item_layout",
    "build_index",
    "CountPlan",
    "SeedTables",
    "build_seed_tables",
    "coalition_statistics",
    "coalition_log2prob",
    "GroupTables",
    "group_tables_fit",
    "build_group_tables",
    "group_coalition_statistics",
    "log2prob_from_statistics",
    "score_items",
]

TOKEN_PATTERN = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)*")
BOS, EOS, UNK = "<s>", "</s>", "<unk>"
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+")
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr st gen sen rep gov jr sr hon messrs rev lt col capt maj sgt no vs u.s u.s.a d.c".split()
)
SPARSE_SHARE = 0.125  # below this share of the tracked n-grams, a configuration's touched n-grams are sorted, not binned


# ----------------------------------------------------------------------------- tokenisation


def split_sentences(text: str) -> list[list[str]]:
    r"""The sentences of ``text``, each a list of lower-case word tokens (empty sentences dropped).

    Examples
    --------
    >>> split_sentences("Mr. Speaker, the state of our Union is strong. We're here!\n(Applause)")
    [['mr', 'speaker', 'the', 'state', 'of', 'our', 'union', 'is', 'strong'], ["we're", 'here'], ['applause']]
    """
    text = text.replace("\u2019", "'").replace("\u2018", "'")
    sentences: list[list[str]] = []
    for paragraph in text.splitlines():
        if not paragraph.strip():
            continue
        pending = ""
        for piece in _SENTENCE_END.split(paragraph):
            pending = f"{pending} {piece}" if pending else piece
            words = piece.rsplit(None, 1)
            if words and words[-1].rstrip("\"')]").endswith(".") \
                    and words[-1].rstrip("\"')]")[:-1].lstrip("(\"'[").lower() in _ABBREVIATIONS:
                continue  # "Mr. President": not a sentence end
            tokens = TOKEN_PATTERN.findall(pending.lower())
            if tokens:
                sentences.append(tokens)
            pending = ""
        if pending:
            tokens = TOKEN_PATTERN.findall(pending.lower())
            if tokens:
                sentences.append(tokens)
    return sentences


@dataclass(frozen=True)
class Vocabulary:
    """The fixed word list of an experiment.

    Attributes
    ----------
    words : tuple of str
        Word of each id: ``0`` is ``<s>``, ``1`` ``</s>``, ``2`` ``<unk>``, then the
        vocabulary words by decreasing training count (ties alphabetical).
    counts : ndarray of int64
        Training count of each id (``<s>`` 0, ``</s>`` the number of sentences,
        ``<unk>`` the tokens of words below ``min_count``).
    min_count : int
    """

    words: tuple[str, ...]
    counts: np.ndarray = field(repr=False)
    min_count: int

    @property
    def size(self) -> int:
        """``V``: the words a model can predict (every id except ``<s>``)."""
        return len(self.words) - 1

    def encode(self, tokens: Sequence[str]) -> np.ndarray:
        """Token ids (int32) of ``tokens``; unknown words map to ``<unk>``."""
        lookup = self.__dict__.get("_lookup")
        if lookup is None:
            lookup = {word: index for index, word in enumerate(self.words)}
            object.__setattr__(self, "_lookup", lookup)
        return np.fromiter((lookup.get(token, 2) for token in tokens), dtype=np.int32, count=len(tokens))


def build_vocabulary(texts: Iterable[list[list[str]]], min_count: int) -> Vocabulary:
    """The vocabulary of the training texts (each a list of tokenised sentences)."""
    tokens: list[str] = []
    n_sentences = 0
    for sentences in texts:
        n_sentences += len(sentences)
        for sentence in sentences:
            tokens.extend(sentence)
    codes, uniques = pd.factorize(pd.Series(tokens, dtype=object), sort=False)
    counts = np.bincount(codes, minlength=len(uniques)) if len(uniques) else np.zeros(0, dtype=np.int64)
    keep = np.flatnonzero(counts >= min_count)
    words = np.asarray(uniques, dtype=object)[keep]
    kept_counts = counts[keep]
    order = np.lexsort((words.astype(str), -kept_counts)) if len(keep) else np.zeros(0, dtype=np.int64)
    unknown = int(counts.sum() - kept_counts.sum())
    return Vocabulary(
        words=(BOS, EOS, UNK) + tuple(str(word) for word in words[order]),
        counts=np.concatenate([[0, n_sentences, unknown], kept_counts[order]]).astype(np.int64),
        min_count=min_count,
    )


@dataclass(frozen=True)
class EncodedTexts:
    """Token ids of several texts, sentence by sentence.

    Attributes
    ----------
    tokens : ndarray of int32
        Every sentence's ids, concatenated (no padding).
    sentence_offsets : ndarray of int64, shape (n_sentences + 1,)
        Sentence ``i`` is ``tokens[sentence_offsets[i]:sentence_offsets[i + 1]]``.
    text_offsets : ndarray of int64, shape (n_texts + 1,)
        Text ``j`` holds sentences ``text_offsets[j]:text_offsets[j + 1]``.
    """

    tokens: np.ndarray = field(repr=False)
    sentence_offsets: np.ndarray = field(repr=False)
    text_offsets: np.ndarray = field(repr=False)

    @property
    def n_texts(self) -> int:
        return len(self.text_offsets) - 1

    @property
    def n_sentences(self) -> int:
        return len(self.sentence_offsets) - 1

    def sentences(self, text: int) -> list[np.ndarray]:
        """The sentences of text ``text`` as id arrays."""
        first, last = self.text_offsets[text], self.text_offsets[text + 1]
        return [self.tokens[self.sentence_offsets[i]:self.sentence_offsets[i + 1]] for i in range(first, last)]


def encode_texts(texts: Sequence[list[list[str]]], vocabulary: Vocabulary) -> EncodedTexts:
    """Encode tokenised texts (each a list of sentences) with ``vocabulary``."""
    lengths = [len(sentence) for sentences in texts for sentence in sentences]
    flat = [token for sentences in texts for sentence in sentences for token in sentence]
    sentence_offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=sentence_offsets[1:])
    text_offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum([len(sentences) for sentences in texts], out=text_offsets[1:])
    return EncodedTexts(vocabulary.encode(flat), sentence_offsets, text_offsets)


def encode_documents(texts: Iterable[str], min_count: int) -> tuple[Vocabulary, EncodedTexts]:
    """Tokenise training texts one at a time, build their vocabulary and encode them.

    Equivalent to :func:`split_sentences`, :func:`build_vocabulary` and :func:`encode_texts`,
    but only one text's tokens are Python strings at any time (the others are provisional
    integer codes), so memory stays proportional to the corpus in int32.
    """
    provisional: dict[str, int] = {}
    codes: list[np.ndarray] = []
    lengths: list[int] = []
    per_text: list[int] = []
    for text in texts:
        sentences = split_sentences(text)
        per_text.append(len(sentences))
        flat = [token for sentence in sentences for token in sentence]
        lengths.extend(len(sentence) for sentence in sentences)
        codes.append(np.fromiter((provisional.setdefault(token, len(provisional)) for token in flat),
                                 dtype=np.int32, count=len(flat)))
    tokens = np.concatenate(codes) if codes else np.zeros(0, dtype=np.int32)
    del codes
    words = np.array(list(provisional), dtype=object)
    counts = np.bincount(tokens, minlength=len(words))
    keep = np.flatnonzero(counts >= min_count)
    order = np.lexsort((words[keep].astype(str), -counts[keep])) if len(keep) else np.zeros(0, dtype=np.int64)
    kept = keep[order]
    n_sentences = len(lengths)
    vocabulary = Vocabulary(
        words=(BOS, EOS, UNK) + tuple(str(word) for word in words[kept]),
        counts=np.concatenate([[0, n_sentences, int(counts.sum() - counts[kept].sum())], counts[kept]]).astype(np.int64),
        min_count=min_count,
    )
    final = np.full(len(words), 2, dtype=np.int32)  # <unk>
    final[kept] = 3 + np.arange(len(kept), dtype=np.int32)
    sentence_offsets = np.zeros(n_sentences + 1, dtype=np.int64)
    np.cumsum(lengths, out=sentence_offsets[1:])
    text_offsets = np.zeros(len(per_text) + 1, dtype=np.int64)
    np.cumsum(per_text, out=text_offsets[1:])
    return vocabulary, EncodedTexts(final[tokens], sentence_offsets, text_offsets)


def kept_sentences(n_sentences: int, seed: int, work_id: str, fraction: float) -> np.ndarray:
    """Sorted indices of the sentences of one work that seed ``seed`` trains on.

    ``round(fraction * n_sentences)`` sentences (at least one) drawn without
    replacement by ``Generator(PCG64(SeedSequence([seed, k])))``, where ``k`` is
    the first 8 bytes of SHA-256 of the work id: a work's subsample depends on
    the seed and the work only, never on the other works or the configuration,
    so configurations trained with the same seed are matched.
    """
    if fraction >= 1.0 or n_sentences == 0:
        return np.arange(n_sentences, dtype=np.int64)
    key = int.from_bytes(hashlib.sha256(work_id.encode("utf-8")).digest()[:8], "little")
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed), key])))
    size = max(1, int(round(fraction * n_sentences)))
    return np.sort(rng.choice(n_sentences, size=size, replace=False))


# ----------------------------------------------------------------------------- padded positions


def _pad(encoded: EncodedTexts, order: int, dtype=np.int32):
    """Padded token stream, position-in-sentence and sentence index of every padded position."""
    lengths = np.diff(encoded.sentence_offsets)
    padded_lengths = lengths + order  # order-1 <s>, the words, </s>
    starts = np.zeros(len(lengths), dtype=np.int64)
    if len(lengths):
        np.cumsum(padded_lengths[:-1], out=starts[1:])
    total = int(padded_lengths.sum())
    stream = np.zeros(total, dtype=dtype)  # 0 = <s>
    target = np.repeat(starts + order - 1 - encoded.sentence_offsets[:-1], lengths) + np.arange(len(encoded.tokens))
    stream[target] = encoded.tokens
    stream[starts + order - 1 + lengths] = 1  # </s>
    sentence = np.repeat(np.arange(len(lengths), dtype=dtype), padded_lengths)
    position = (np.arange(total, dtype=np.int64) - starts[sentence]).astype(dtype)
    return stream, position, sentence


def _rank(keys: np.ndarray, dtype=np.int64) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique ``keys`` and the rank of each key among them (``np.unique(..., return_inverse=True)``).

    A stable argsort and a cumulative sum: numpy's hash-based ``unique`` is several times
    slower on tens of millions of keys.
    """
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    new = np.empty(len(keys), dtype=bool)
    new[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
    inverse = np.empty(len(keys), dtype=dtype)
    inverse[order] = np.cumsum(new, dtype=dtype) - 1
    return ordered[new], inverse


def _groups(rows: np.ndarray, columns: np.ndarray, n_columns: int, entries: np.ndarray) -> dict:
    """Sort (row, column) entries once, so a seed's counts are one gather and one ``reduceat``."""
    width = max(n_columns, 1)
    key = rows.astype(np.int64)
    key *= width
    key += columns
    order = np.argsort(key, kind="stable")
    key = key[order]
    if len(key):
        starts = np.flatnonzero(np.concatenate([[True], key[1:] != key[:-1]]))
    else:
        starts = np.zeros(0, dtype=np.int64)
    first = key[starts]
    del key
    return {
        "entry": entries[order].astype(np.int32 if len(entries) == 0 or entries.max() < 2**31 - 1 else np.int64),
        "starts": starts.astype(np.int64),
        "row": (first // width).astype(np.int32),
        "column": (first % width).astype(np.int32 if width < 2**31 else np.int64),
    }


# ----------------------------------------------------------------------------- the index


def item_layout(predictions: Sequence[int], labels: Sequence[str], item_tokens: int,
                max_items: int | None = None) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """Cut held-out texts into benchmark items.

    Text ``t`` with ``predictions[t]`` predicted tokens (its words and one ``</s>`` per
    sentence) gives ``predictions[t] // item_tokens`` consecutive items ``<label>#<k>``;
    the remainder is dropped. With ``max_items``, that many items are kept, evenly spaced
    (``round(linspace(0, n - 1, max_items))``).

    Returns
    -------
    ids : tuple of str
    text : ndarray of int64
        The held-out text of each item.
    first : ndarray of int64
        Each item's first prediction within its text.
    """
    ids, texts, firsts = [], [], []
    for text, (label, count) in enumerate(zip(labels, predictions)):
        for k in range(int(count) // item_tokens):
            ids.append(f"{label}#{k:04d}")
            texts.append(text)
            firsts.append(k * item_tokens)
    if max_items is not None and len(ids) > max_items:
        chosen = np.unique(np.round(np.linspace(0, len(ids) - 1, max_items)).astype(np.int64))
        ids = [ids[i] for i in chosen]
        texts = [texts[i] for i in chosen]
        firsts = [firsts[i] for i in chosen]
    return tuple(ids), np.asarray(texts, dtype=np.int64), np.asarray(firsts, dtype=np.int64)


@dataclass(frozen=True)
class CountPlan:
    """The training positions, sorted once by (work, statistic), so that counting a seed is cheap.

    Attributes
    ----------
    work_sentence_offsets : ndarray of int64, shape (n_works + 1,)
    sentence_of_position : ndarray of int
        Training sentence of every predicted training position.
    raw, presence : dict
        ``entry`` (position of each entry, sorted by work then column), ``starts`` (first
        entry of each distinct (work, column) pair), ``row`` and ``column`` of each pair:
        the raw-count columns and the relevant windows each position adds to.
    """

    work_sentence_offsets: np.ndarray = field(repr=False)
    sentence_of_position: np.ndarray = field(repr=False)
    raw: dict = field(repr=False)
    presence: dict = field(repr=False)


@dataclass(frozen=True)
class NgramIndex:
    """Everything about an experiment that does not depend on the seed or the configuration.

    Built once by :func:`build_index` from the training works and the benchmark.

    Attributes
    ----------
    order : int
    smoothing : {"kneser_ney", "absolute_discounting"}
    discounts : ndarray of float64, shape (order,)
        ``D_1 .. D_N``.
    vocabulary_size : int
        ``V``.
    n_works : int
    n_raw, n_type : int
        Lengths of the additive (raw count) and presence-based (type count) statistic vectors.
    n_windows : int
        Training n-grams whose presence moves some type statistic.
    blocks : dict
        ``(family, n) -> (vector, offset, length)`` with family ``a``, ``A`` or ``T``,
        ``vector`` ``"raw"`` or ``"type"``: where each statistic of order ``n`` lives.
    query_a, query_h : tuple of ndarray
        Per order ``n`` (index ``n - 1``), the slot of each query's n-gram within its
        ``a`` block (the block length when the n-gram never occurs: statistic 0) and
        of its history within the ``A`` and ``T`` blocks.
    query_words : ndarray of int
        The word id each query asks the probability of.
    n_true : int
        The first ``n_true`` queries are the benchmark tokens, item by item; the rest
        are cloze distractors.
    item_ids : tuple of str
    item_tokens : int
    cloze_position, cloze_distractors : ndarray of int64
        Query index (into the true tokens) of each cloze question, and shape
        ``(n_questions, k)`` query indices of its distractors.
    cloze_item : ndarray of int64
        Item of each cloze question.
    targets : ndarray of int, shape (n_windows, 3)
        The type statistics (slots of the type vector; ``n_type`` for none) each window counts in.
    plan : CountPlan or None
        How training positions add up, for :func:`build_seed_tables` (None once dropped).
    """

    order: int
    smoothing: str
    discounts: np.ndarray = field(repr=False)
    vocabulary_size: int
    n_works: int
    n_raw: int
    n_type: int
    n_windows: int
    blocks: dict = field(repr=False)
    query_a: tuple = field(repr=False)
    query_h: tuple = field(repr=False)
    query_words: np.ndarray = field(repr=False)
    n_true: int
    item_ids: tuple[str, ...] = field(repr=False)
    item_tokens: int
    cloze_position: np.ndarray = field(repr=False)
    cloze_distractors: np.ndarray = field(repr=False)
    cloze_item: np.ndarray = field(repr=False)
    targets: np.ndarray = field(repr=False)
    plan: "CountPlan | None" = field(default=None, repr=False)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def without_plan(self) -> "NgramIndex":
        """A copy without the counting plan: all that scoring needs (smaller to ship to workers)."""
        return replace(self, plan=None)

    @property
    def n_queries(self) -> int:
        return len(self.query_a[0])


def build_index(
    train: EncodedTexts,
    benchmark: EncodedTexts,
    benchmark_labels: Sequence[str],
    *,
    vocabulary: Vocabulary,
    order: int,
    smoothing: str,
    discounts: Sequence[float],
    item_tokens: int,
    max_items: int | None = None,
    cloze_distractors: int = 0,
    cloze_seed: int = 0,
) -> NgramIndex:
    """Tabulate the n-grams and histories the benchmark needs, and where training positions add to them.

    Parameters
    ----------
    train : EncodedTexts
        One text per work, in the order of the works table.
    benchmark : EncodedTexts
        The held-out texts.
    benchmark_labels : sequence of str
        A label per held-out text, used in item ids (``<label>#<k>``).
    vocabulary : Vocabulary
        The fixed vocabulary both were encoded with.
    order : int
        ``N``, from 1 to 5.
    smoothing : {"kneser_ney", "absolute_discounting"}
        Interpolated Kneser-Ney or interpolated absolute discounting (module docstring).
    discounts : sequence of float
        ``D_1 .. D_N``, each in (0, 1).
    item_tokens : int
        Predicted tokens per benchmark item: each held-out text is cut into
        consecutive passages of this many predictions (the remainder is dropped).
    max_items : int, optional
        Keep this many items, evenly spaced over all items, when there are more.
    cloze_distractors : int
        ``k``: distractor words per cloze question (0: no cloze). Every vocabulary
        word of a selected item is a question; its distractors are drawn from the
        training unigram distribution (excluding ``<unk>``, ``</s>`` and the true
        word) by ``Generator(PCG64(SeedSequence(cloze_seed)))``.
    cloze_seed : int
        Seeds the distractors: they are part of the benchmark, the same for every
        configuration and training seed.

    Returns
    -------
    NgramIndex
    """
    if smoothing not in ("kneser_ney", "absolute_discounting"):
        raise ValueError(f"`smoothing` must be 'kneser_ney' or 'absolute_discounting', got {smoothing!r}.")
    discounts = np.asarray(discounts, dtype=np.float64)
    if discounts.shape != (order,) or np.any(discounts <= 0) or np.any(discounts >= 1):
        raise ValueError(f"`discounts` must hold {order} numbers in (0, 1), got {discounts.tolist()}.")
    kn = smoothing == "kneser_ney"
    V = vocabulary.size + 1  # ids 0..V-1 including <s> (key base)

    # padded streams: training then benchmark, one id space for sequences of each length
    n_positions = int(np.diff(train.sentence_offsets).sum() + np.diff(benchmark.sentence_offsets).sum()) \
        + order * (train.n_sentences + benchmark.n_sentences)
    ID = np.int32 if n_positions < 2**31 - 1 else np.int64  # ids and positions: int32 halves memory
    train_stream, train_position, train_sentence = _pad(train, order, ID)
    bench_stream, bench_position, bench_sentence = _pad(benchmark, order, ID)
    n_train = len(train_stream)
    stream = np.concatenate([train_stream, bench_stream])
    position = np.concatenate([train_position, bench_position])
    del train_stream, bench_stream, train_position, bench_position
    total = len(stream)
    seq = [np.zeros(total, dtype=ID)]  # seq[L][p]: id of the L tokens ending at p (-1: crosses a sentence start)
    keys_of: list[np.ndarray] = [np.zeros(1, dtype=np.int64)]
    for length in range(1, order + 1):
        valid = position >= length - 1
        key = np.empty(total, dtype=np.int64)
        if length == 1:
            key[:] = stream
        else:
            key[0] = -1
            key[1:] = seq[length - 1][:-1]
            key *= V
            key += stream
        uniques, inverse = _rank(key[valid], ID)
        del key
        ids = np.full(total, -1, dtype=ID)
        ids[valid] = inverse
        del inverse, valid
        seq.append(ids)
        keys_of.append(uniques)

    predicted = position >= order - 1
    del position
    train_pred = np.flatnonzero(predicted[:n_train]).astype(ID)
    bench_pred = (n_train + np.flatnonzero(predicted[n_train:])).astype(ID)
    del predicted

    # benchmark items: consecutive predictions of each held-out text
    bench_text_of_sentence = np.repeat(np.arange(benchmark.n_texts), np.diff(benchmark.text_offsets))
    text_of_pred = bench_text_of_sentence[bench_sentence[bench_pred - n_train]] if len(bench_pred) else np.zeros(0, np.int64)
    predictions = np.bincount(text_of_pred, minlength=benchmark.n_texts)
    item_ids, item_text, item_first = item_layout(predictions, benchmark_labels, item_tokens, max_items)
    if not item_ids:
        raise ValueError(f"The benchmark texts hold fewer than `item_tokens` ({item_tokens}) predicted tokens.")
    text_first = np.zeros(benchmark.n_texts + 1, dtype=np.int64)
    np.cumsum(predictions, out=text_first[1:])
    item_positions = [bench_pred[text_first[t] + first + np.arange(item_tokens)] for t, first in zip(item_text, item_first)]
    query_positions = np.concatenate(item_positions).astype(np.int64)
    n_true = len(query_positions)

    # histories and n-grams of every query, per order (index n-1)
    def history(n: int, positions: np.ndarray) -> np.ndarray:
        return np.zeros(len(positions), dtype=ID) if n == 1 else seq[n - 1][positions - 1]

    query_words = stream[query_positions].astype(np.int64)
    cloze_position = np.zeros(0, dtype=np.int64)
    cloze_item = np.zeros(0, dtype=np.int64)
    distractor_words = np.zeros((0, max(cloze_distractors, 0)), dtype=np.int64)
    if cloze_distractors > 0:
        is_word = query_words >= 3
        cloze_position = np.flatnonzero(is_word)
        cloze_item = cloze_position // item_tokens
        weights = vocabulary.counts[3:].astype(np.float64)
        if weights.sum() <= 0 or len(weights) < 2:
            raise ValueError("The cloze metric needs at least two vocabulary words.")
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(int(cloze_seed))))
        probabilities = weights / weights.sum()
        distractor_words = 3 + rng.choice(len(weights), size=(len(cloze_position), cloze_distractors), p=probabilities)
        true_words = query_words[cloze_position][:, None]
        clash = distractor_words == true_words
        while clash.any():
            distractor_words[clash] = 3 + rng.choice(len(weights), size=int(clash.sum()), p=probabilities)
            clash = distractor_words == true_words
    n_distractor_queries = distractor_words.size
    distractor_positions = np.repeat(query_positions[cloze_position], cloze_distractors) if cloze_distractors > 0 else np.zeros(0, np.int64)
    all_positions = np.concatenate([query_positions, distractor_positions])
    all_words = np.concatenate([query_words, distractor_words.reshape(-1)])
    cloze_distractor_queries = (n_true + np.arange(n_distractor_queries)).reshape(len(cloze_position), max(cloze_distractors, 0)) \
        if cloze_distractors > 0 else np.zeros((0, 0), dtype=np.int64)

    query_history = [history(n, all_positions).astype(np.int64) for n in range(1, order + 1)]
    query_ngram = []
    for n in range(1, order + 1):
        key = query_history[n - 1] * V + all_words
        found = np.searchsorted(keys_of[n], key)
        found = np.minimum(found, len(keys_of[n]) - 1)
        ids = np.where(keys_of[n][found] == key, found, -1)
        query_ngram.append(ids)

    # the training side only needs, per order, each predicted position's n-gram and history ids
    train_ngram = [None] + [seq[n][train_pred] for n in range(1, order + 1)]
    train_history = [None] + [history(n, train_pred) for n in range(1, order + 1)]
    seq.clear()  # the history() closure is done; free the per-position ids
    del stream

    # slots: sorted unique ids per order; dense lookup from global id to slot (-1: not queried)
    hist_slots, hist_lookup, ngram_slots, ngram_lookup = [], [], [], []
    for n in range(1, order + 1):
        h = _unique_counts(query_history[n - 1])[0]
        lookup = np.full(len(keys_of[n - 1]), -1, dtype=ID)
        lookup[h] = np.arange(len(h))
        hist_slots.append(h)
        hist_lookup.append(lookup)
        g = _unique_counts(query_ngram[n - 1][query_ngram[n - 1] >= 0])[0]
        lookup = np.full(len(keys_of[n]), -1, dtype=ID)
        lookup[g] = np.arange(len(g))
        ngram_slots.append(g)
        ngram_lookup.append(lookup)

    # where each statistic lives
    blocks: dict = {}
    n_raw = n_type = 0
    raw_families: list[tuple[str, int]] = []
    for n in range(1, order + 1):
        raw = (not kn) or n == order
        # an `a` block ends with one slot that nothing counts in: the statistic of n-grams never seen
        for family, length in (("a", len(ngram_slots[n - 1]) + 1), ("A", len(hist_slots[n - 1]))):
            if raw:
                blocks[(family, n)] = ("raw", n_raw, length)
                n_raw += length
                raw_families.append((family, n))
            else:
                blocks[(family, n)] = ("type", n_type, length)
                n_type += length
        blocks[("T", n)] = ("type", n_type, len(hist_slots[n - 1]))
        n_type += len(hist_slots[n - 1])

    query_a = tuple(np.where(query_ngram[n - 1] >= 0, ngram_lookup[n - 1][np.maximum(query_ngram[n - 1], 0)],
                             len(ngram_slots[n - 1])) for n in range(1, order + 1))
    query_h = tuple(hist_lookup[n - 1][query_history[n - 1]] for n in range(1, order + 1))
    del query_history, query_ngram

    # training positions: which additive statistics each adds to ...
    train_text_of_sentence = np.repeat(np.arange(train.n_texts), np.diff(train.text_offsets)).astype(np.int32)
    sentence_of = train_sentence[train_pred]
    del train_sentence, train_pred
    work_of = train_text_of_sentence[sentence_of]
    entry_parts, row_parts, column_parts = [], [], []
    for family, n in raw_families:
        _, offset, _ = blocks[(family, n)]
        slot = ngram_lookup[n - 1][train_ngram[n]] if family == "a" else hist_lookup[n - 1][train_history[n]]
        hit = np.flatnonzero(slot >= 0).astype(ID)
        entry_parts.append(hit)
        row_parts.append(work_of[hit])
        column_parts.append(offset + slot[hit])
        del slot
    raw_groups = _groups(_cat(row_parts), _cat(column_parts), n_raw, _cat(entry_parts))
    del entry_parts, row_parts, column_parts

    # ... and the windows (n-grams at predicted positions) whose presence moves a type statistic
    entry_parts, row_parts, column_parts = [], [], []
    target_parts: list[np.ndarray] = []
    n_windows = 0
    for m in range(1, order + 1):
        window_ids = train_ngram[m]
        targets = np.full((len(keys_of[m]), 3), -1, dtype=np.int64 if n_type >= 2**31 - 1 else np.int32)
        _, offset, _ = blocks[("T", m)]
        slot = hist_lookup[m - 1][train_history[m]]
        targets[window_ids, 0] = np.where(slot >= 0, offset + slot, -1)
        if kn and m >= 2:
            _, offset, _ = blocks[("a", m - 1)]
            slot = ngram_lookup[m - 2][train_ngram[m - 1]]
            targets[window_ids, 1] = np.where(slot >= 0, offset + slot, -1)
            _, offset, _ = blocks[("A", m - 1)]
            slot = hist_lookup[m - 2][train_history[m - 1]]
            targets[window_ids, 2] = np.where(slot >= 0, offset + slot, -1)
        del slot
        relevant = np.zeros(len(keys_of[m]), dtype=bool)
        relevant[window_ids] = True
        relevant &= (targets >= 0).any(axis=1)
        relevant_ids = np.flatnonzero(relevant)
        del relevant
        window_lookup = np.full(len(keys_of[m]), -1, dtype=ID)
        window_lookup[relevant_ids] = n_windows + np.arange(len(relevant_ids))
        window = window_lookup[window_ids]
        del window_lookup
        hit = np.flatnonzero(window >= 0).astype(ID)
        entry_parts.append(hit)
        row_parts.append(work_of[hit])
        column_parts.append(window[hit])
        del window
        target_parts.append(targets[relevant_ids])
        del targets
        n_windows += len(relevant_ids)
    del train_ngram, train_history, hist_lookup, ngram_lookup
    presence_groups = _groups(_cat(row_parts), _cat(column_parts), n_windows, _cat(entry_parts))
    del entry_parts, row_parts, column_parts
    targets_all = np.concatenate(target_parts) if target_parts else np.zeros((0, 3), np.int64)
    del target_parts

    plan = CountPlan(
        work_sentence_offsets=train.text_offsets.copy(),
        sentence_of_position=sentence_of.astype(np.int32 if len(sentence_of) < 2**31 else np.int64),
        raw=raw_groups,
        presence=presence_groups,
    )
    return NgramIndex(
        order=order,
        smoothing=smoothing,
        discounts=discounts,
        vocabulary_size=vocabulary.size,
        n_works=train.n_texts,
        n_raw=n_raw,
        n_type=n_type,
        n_windows=n_windows,
        blocks=blocks,
        query_a=tuple(_narrow(q) for q in query_a),
        query_h=tuple(_narrow(q) for q in query_h),
        query_words=_narrow(all_words),
        n_true=n_true,
        item_ids=tuple(item_ids),
        item_tokens=item_tokens,
        cloze_position=cloze_position,
        cloze_distractors=cloze_distractor_queries,
        cloze_item=cloze_item,
        targets=_narrow(np.where(targets_all >= 0, targets_all, n_type)),  # -1 -> the extra last bin
        plan=plan,
    )


def _cat(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def _narrow(array: np.ndarray) -> np.ndarray:
    """int32 when the values fit (halves memory and pickling)."""
    if array.size == 0 or (array.max() < 2**31 - 1 and array.min() >= -1):
        return array.astype(np.int32)
    return array


# ----------------------------------------------------------------------------- the tables of one seed


@dataclass(frozen=True)
class SeedTables:
    """Per-work count tables of one seed (the works' sentence subsamples).

    Attributes
    ----------
    seed : int
    raw : scipy.sparse.csr_matrix, shape (n_works, n_raw), int64
        Each work's raw counts of the benchmark's n-grams and histories.
    presence : scipy.sparse.csr_matrix, shape (n_works, n_windows), int8
        Which relevant n-grams each work contains (1 if it does).
    support : ndarray of int32, shape (n_windows,)
        In how many works each n-gram occurs.
    raw_full, type_full : ndarray of int64
        The statistics of the full model (every work).
    raw_nnz, presence_nnz : ndarray of int64, shape (n_works,)
        Stored entries per work (what leaving a work out costs).
    n_tokens : ndarray of int64, shape (n_works,)
        Predicted tokens per work in this seed's subsample.
    token : str
        A random id of this object (for caches of derived tables in worker processes).
    """

    seed: int
    raw: sp.csr_matrix = field(repr=False)
    presence: sp.csr_matrix = field(repr=False)
    support: np.ndarray = field(repr=False)
    raw_full: np.ndarray = field(repr=False)
    type_full: np.ndarray = field(repr=False)
    raw_nnz: np.ndarray = field(repr=False)
    presence_nnz: np.ndarray = field(repr=False)
    n_tokens: np.ndarray = field(repr=False)
    token: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def nbytes(self) -> int:
        arrays = (self.raw.data, self.raw.indices, self.raw.indptr, self.presence.data, self.presence.indices,
                  self.presence.indptr, self.support, self.raw_full, self.type_full)
        return int(sum(array.nbytes for array in arrays))


def build_seed_tables(index: NgramIndex, seed: int, work_ids: Sequence[str], fraction: float) -> SeedTables:
    """Count every work's kept sentences once for ``seed`` (see :func:`kept_sentences`).

    Raises
    ------
    ValueError
        When ``index`` no longer holds its counting plan (see :meth:`NgramIndex.without_plan`).
    """
    plan = index.plan
    if plan is None:
        raise ValueError("`index` has no counting plan: build seed tables before calling `without_plan()`.")
    n_works = index.n_works
    offsets = plan.work_sentence_offsets
    keep_sentence = np.zeros(int(offsets[-1]), dtype=bool)
    for work in range(n_works):
        first, last = int(offsets[work]), int(offsets[work + 1])
        keep_sentence[first + kept_sentences(last - first, seed, str(work_ids[work]), fraction)] = True
    keep_position = keep_sentence[plan.sentence_of_position]
    work_of_sentence = np.repeat(np.arange(n_works), np.diff(offsets))
    sentence_tokens = np.bincount(plan.sentence_of_position, minlength=len(keep_sentence))
    n_tokens = np.bincount(work_of_sentence[keep_sentence], weights=sentence_tokens[keep_sentence],
                           minlength=n_works).astype(np.int64)

    raw = _seed_matrix(plan.raw, keep_position, n_works, index.n_raw, counts=True)
    presence = _seed_matrix(plan.presence, keep_position, n_works, index.n_windows, counts=False)
    support = np.bincount(presence.indices, minlength=index.n_windows).astype(np.int32)
    raw_full = np.bincount(raw.indices, weights=raw.data, minlength=index.n_raw).astype(np.int64)
    type_full = _type_counts(index, np.flatnonzero(support > 0))
    return SeedTables(
        seed=int(seed),
        raw=raw,
        presence=presence,
        support=support,
        raw_full=raw_full,
        type_full=type_full,
        raw_nnz=np.diff(raw.indptr).astype(np.int64),
        presence_nnz=np.diff(presence.indptr).astype(np.int64),
        n_tokens=n_tokens,
    )


def _seed_matrix(groups: dict, keep_position: np.ndarray, n_rows: int, n_columns: int, counts: bool) -> sp.csr_matrix:
    """CSR (works x columns) of the kept entries: their number, or 1 for presence; indices sorted."""
    if len(groups["starts"]) == 0:
        return sp.csr_matrix((n_rows, n_columns), dtype=np.int64 if counts else np.int8)
    number = np.add.reduceat(keep_position[groups["entry"]], groups["starts"], dtype=np.int32)
    nonzero = number > 0
    rows = groups["row"][nonzero]
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n_rows), out=indptr[1:])
    data = number[nonzero].astype(np.int64) if counts else np.ones(int(nonzero.sum()), dtype=np.int8)
    matrix = sp.csr_matrix((data, groups["column"][nonzero], indptr), shape=(n_rows, n_columns))
    matrix.has_sorted_indices = True
    return matrix


def _type_counts(index: NgramIndex, windows: np.ndarray) -> np.ndarray:
    """How many of ``windows`` (relevant-window ids) each type statistic counts."""
    targets = index.targets[windows].reshape(-1)  # -1 (no statistic) lands in the extra last bin
    return np.bincount(targets, minlength=index.n_type + 1)[: index.n_type].astype(np.int64)


def _unique_counts(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct values and how often each occurs (by sorting; small arrays)."""
    ordered = np.sort(values)
    if len(ordered) == 0:
        return ordered, np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate([[True], ordered[1:] != ordered[:-1]]))
    return ordered[starts], np.diff(np.append(starts, len(ordered)))


def _gather_rows(matrix: sp.csr_matrix, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Concatenated (indices, data) of ``rows`` of a CSR matrix."""
    if len(rows) == 1:
        start, stop = matrix.indptr[rows[0]], matrix.indptr[rows[0] + 1]
        return matrix.indices[start:stop], matrix.data[start:stop]
    sub = matrix[rows]
    return sub.indices, sub.data


def coalition_statistics(index: NgramIndex, tables: SeedTables, removed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The raw and type statistic vectors of the model trained without works ``removed``.

    Sums the rows of the removed works and subtracts them from the full model, or
    sums the kept works' rows, whichever touches fewer stored entries.
    """
    n_works = index.n_works
    removed = np.unique(np.asarray(removed, dtype=np.int64))
    if len(removed) == 0:
        return tables.raw_full.copy(), tables.type_full.copy()
    mask = np.zeros(n_works, dtype=bool)
    mask[removed] = True
    kept = np.flatnonzero(~mask)
    removed_cost = tables.presence_nnz[removed].sum() + tables.raw_nnz[removed].sum()
    kept_cost = tables.presence_nnz[kept].sum() + tables.raw_nnz[kept].sum()
    if len(kept) == 0:
        return np.zeros(index.n_raw, dtype=np.int64), np.zeros(index.n_type, dtype=np.int64)
    if removed_cost <= kept_cost:
        columns, counts = _gather_rows(tables.raw, removed)
        raw = tables.raw_full - np.bincount(columns, weights=counts, minlength=index.n_raw).astype(np.int64)
        # an n-gram is absent when the removed works hold every one of its occurrences
        windows, _ = _gather_rows(tables.presence, removed)
        if len(windows) < SPARSE_SHARE * index.n_windows:
            touched, times = _unique_counts(windows)
            absent = touched[times == tables.support[touched]]
        else:
            times = np.bincount(windows, minlength=index.n_windows)
            absent = np.flatnonzero((times == tables.support) & (times > 0))
        return raw, tables.type_full - _type_counts(index, absent)
    columns, counts = _gather_rows(tables.raw, kept)
    raw = np.bincount(columns, weights=counts, minlength=index.n_raw).astype(np.int64)
    windows, _ = _gather_rows(tables.presence, kept)
    if len(windows) < SPARSE_SHARE * index.n_windows:
        present = _unique_counts(windows)[0]
    else:
        present = np.flatnonzero(np.bincount(windows, minlength=index.n_windows))
    return raw, _type_counts(index, present)


def coalition_log2prob(index: NgramIndex, tables: SeedTables, removed: np.ndarray) -> np.ndarray:
    """log2 P(word | history) of every query under the model trained without ``removed``.

    Returns
    -------
    ndarray of float64, shape (n_queries,)
        The benchmark tokens first (item by item), then the cloze distractors.
    """
    raw, typ = coalition_statistics(index, tables, removed)
    return _log2prob(index, raw, typ)


# ----------------------------------------------------------------------------- coalitions of a few groups


MAX_GROUP_TABLE_ENTRIES = 2**25  # 2^k x n_type int32 counts (128 MB): beyond this, coalitions go through works


@dataclass(frozen=True)
class GroupTables:
    """The statistics of every coalition of one grouping's groups, for one seed.

    For ``k`` groups, each tracked n-gram has the bitmask ``m`` of the groups that
    contain it; it is absent from the model of the coalition ``S`` (a bitmask of present
    groups) exactly when ``m & S == 0``. ``absent[U]`` holds the type-statistic counts of
    the n-grams whose mask is a non-empty subset of ``U`` (a subset-sum, or zeta,
    transform over the ``2^k`` masks), so a coalition costs one row::

        type(S) = type_full - absent[~S],    raw(S) = sum of raw_by_group[g] for g in S

    Attributes
    ----------
    seed : int
    n_groups : int
    raw_by_group : ndarray of int64, shape (k, n_raw)
    absent : ndarray of int32, shape (2^k, n_type)
    """

    seed: int
    n_groups: int
    raw_by_group: np.ndarray = field(repr=False)
    absent: np.ndarray = field(repr=False)


def group_tables_fit(index: NgramIndex, n_groups: int) -> bool:
    """True when the tables of a grouping with ``n_groups`` groups fit :data:`MAX_GROUP_TABLE_ENTRIES`."""
    return n_groups <= 20 and (2**n_groups) * index.n_type <= MAX_GROUP_TABLE_ENTRIES


def build_group_tables(index: NgramIndex, tables: SeedTables, membership: np.ndarray) -> GroupTables:
    """Aggregate a seed's per-work tables by the groups ``membership`` assigns (group of each work)."""
    membership = np.asarray(membership, dtype=np.int64)
    k = int(membership.max()) + 1 if len(membership) else 0
    if not group_tables_fit(index, k):
        raise ValueError(f"A grouping of {k} groups needs 2^{k} x {index.n_type} counts, more than "
                         f"`MAX_GROUP_TABLE_ENTRIES` ({MAX_GROUP_TABLE_ENTRIES}).")
    raw_by_group = np.zeros((k, index.n_raw), dtype=np.int64)
    mask = np.zeros(index.n_windows, dtype=np.int64)
    for group in range(k):
        works = np.flatnonzero(membership == group)
        if len(works) == 0:
            continue
        columns, counts = _gather_rows(tables.raw, works)
        raw_by_group[group] = np.bincount(columns, weights=counts, minlength=index.n_raw).astype(np.int64)
        windows, _ = _gather_rows(tables.presence, works)
        mask[np.bincount(windows, minlength=index.n_windows) > 0] |= 1 << group
    width = index.n_type + 1  # the last column collects "no statistic"
    contained = np.flatnonzero(mask)
    targets = index.targets[contained].astype(np.int64)
    key = (mask[contained][:, None] * width + targets).reshape(-1)
    absent = np.bincount(key, minlength=(2**k) * width).reshape(2**k, width)[:, : index.n_type].astype(np.int32)
    for bit in range(k):  # zeta transform: absent[U] = sum over non-empty m subset of U of counts[m]
        view = absent.reshape(2 ** (k - bit - 1), 2, 2**bit, index.n_type)
        view[:, 1] += view[:, 0]
    return GroupTables(seed=tables.seed, n_groups=k, raw_by_group=raw_by_group, absent=absent)


def group_coalition_statistics(index: NgramIndex, tables: SeedTables, groups: GroupTables,
                               present: int) -> tuple[np.ndarray, np.ndarray]:
    """The raw and type statistics of the model trained on the groups in bitmask ``present``."""
    full = (1 << groups.n_groups) - 1
    members = [g for g in range(groups.n_groups) if (present >> g) & 1]
    raw = groups.raw_by_group[members].sum(axis=0) if members else np.zeros(index.n_raw, dtype=np.int64)
    typ = tables.type_full - groups.absent[full & ~present]
    return raw, typ


def _block(index: NgramIndex, raw: np.ndarray, typ: np.ndarray, family: str, n: int) -> np.ndarray:
    vector, offset, length = index.blocks[(family, n)]
    source = raw if vector == "raw" else typ
    return source[offset:offset + length]


def log2prob_from_statistics(index: NgramIndex, raw: np.ndarray, typ: np.ndarray) -> np.ndarray:
    """log2 P of every query from a model's raw and type statistic vectors (see :func:`coalition_log2prob`)."""
    return _log2prob(index, raw, typ)


def _log2prob(index: NgramIndex, raw: np.ndarray, typ: np.ndarray) -> np.ndarray:
    probability = np.full(index.n_queries, 1.0 / index.vocabulary_size)
    for n in range(1, index.order + 1):
        discount = index.discounts[n - 1]
        A = _block(index, raw, typ, "A", n)
        T = _block(index, raw, typ, "T", n)
        seen = A > 0
        inverse = np.divide(1.0, A, out=np.zeros(len(A)), where=seen)
        backoff = np.where(seen, discount * T * inverse, 1.0)  # weight of the lower order, per history
        history = index.query_h[n - 1]
        higher = _block(index, raw, typ, "a", n)[index.query_a[n - 1]] - discount
        np.maximum(higher, 0.0, out=higher)
        higher *= inverse[history]
        probability *= backoff[history]
        probability += higher
    return np.log2(probability)


def score_items(index: NgramIndex, log2prob: np.ndarray) -> dict[str, np.ndarray]:
    """Per-item scores from query log-probabilities (higher is better).

    Returns
    -------
    dict
        ``"neg_bits_per_token"``: minus the mean bits per predicted token of each item
        (``-mean(-log2 P)``); ``"cloze"`` (when the index has cloze questions): the
        share of the item's questions whose true word is more probable than every
        distractor (a tie at the top counts ``1 / (1 + ties)``).
    """
    true = log2prob[: index.n_true].reshape(index.n_items, index.item_tokens)
    scores = {"neg_bits_per_token": true.mean(axis=1)}
    if len(index.cloze_position):
        truth = log2prob[index.cloze_position]
        distractors = log2prob[index.cloze_distractors]
        best = distractors.max(axis=1)
        ties = (distractors == best[:, None]).sum(axis=1)
        correct = np.where(truth > best, 1.0, np.where(truth == best, 1.0 / (1.0 + ties), 0.0))
        total = np.bincount(index.cloze_item, weights=correct, minlength=index.n_items)
        questions = np.bincount(index.cloze_item, minlength=index.n_items)
        scores["cloze"] = np.divide(total, questions, out=np.full(index.n_items, np.nan), where=questions > 0)
    return scores
