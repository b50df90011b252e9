"""The n-gram core: tokenisation, additivity of the count tables, the smoothing formulas, scoring."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from expert.experiment import ngram
from expert.experiment.run import read_text

from ngram_reference import ReferenceModel, benchmark_queries


def prepare(case_dir, works, *, order=3, smoothing="kneser_ney", discounts=None, cloze=0, item_tokens=16,
            max_items=None, min_count=1):
    """Tokenised works and held-out texts, vocabulary, encodings and index of the synthetic corpus."""
    train_sentences = [ngram.split_sentences(read_text(case_dir / path)) for path in works["text"]]
    held_out = sorted((case_dir / "heldout").iterdir())
    bench_sentences = [ngram.split_sentences(read_text(path)) for path in held_out]
    vocabulary = ngram.build_vocabulary(train_sentences, min_count)
    train = ngram.encode_texts(train_sentences, vocabulary)
    bench = ngram.encode_texts(bench_sentences, vocabulary)
    index = ngram.build_index(train, bench, [p.name.split(".")[0] for p in held_out], vocabulary=vocabulary,
                              order=order, smoothing=smoothing, discounts=discounts or [0.75] * order,
                              item_tokens=item_tokens, max_items=max_items, cloze_distractors=cloze, cloze_seed=7)
    return train, bench, vocabulary, index


def reference_log2prob(train, bench, index, work_ids, removed, seed, fraction):
    """log2 P of every query of ``index`` under a reference model trained on the kept sentences of the coalition."""
    sentences = []
    for work in range(train.n_texts):
        if work in removed:
            continue
        work_sentences = train.sentences(work)
        for kept in ngram.kept_sentences(len(work_sentences), seed, work_ids[work], fraction):
            sentences.append(work_sentences[kept].tolist())
    model = ReferenceModel(sentences, index.order, index.smoothing, list(index.discounts), index.vocabulary_size)
    streams = [benchmark_queries([s.tolist() for s in bench.sentences(t)], index.order) for t in range(bench.n_texts)]
    ids, texts, firsts = ngram.item_layout([len(s) for s in streams], [str(t) for t in range(len(streams))],
                                           index.item_tokens, None if index.n_items == sum(len(s) // index.item_tokens for s in streams) else index.n_items)
    queries = [q for t, first in zip(texts, firsts) for q in streams[t][first:first + index.item_tokens]]
    assert [word for _, word in queries] == index.query_words[: index.n_true].tolist()
    distractors = index.query_words[index.n_true:].reshape(len(index.cloze_position), -1)
    for position, words in zip(index.cloze_position, distractors):
        queries.extend((queries[position][0], int(word)) for word in words)
    return np.log2([model.probability(history, word) for history, word in queries])


def test_split_sentences():
    text = "Mr. Speaker, the Union is strong. We\u2019re here!  It's 2026?\n\n[Applause] Thank you."
    assert ngram.split_sentences(text) == [
        ["mr", "speaker", "the", "union", "is", "strong"], ["we're", "here"], ["it's", "2026"],
        ["applause", "thank", "you"],
    ]


def test_vocabulary_is_fixed_and_ordered():
    vocabulary = ngram.build_vocabulary([[["b", "a", "b"], ["c"]], [["a", "b", "d"]]], min_count=2)
    assert vocabulary.words == ("<s>", "</s>", "<unk>", "b", "a")
    assert vocabulary.counts.tolist() == [0, 3, 2, 3, 2]
    assert vocabulary.size == 4  # </s>, <unk>, b, a
    assert vocabulary.encode(["a", "zzz", "b"]).tolist() == [4, 2, 3]


@pytest.mark.parametrize("sparse_share", [0.0, 1e9], ids=["binned", "sorted"])
@pytest.mark.parametrize("smoothing", ["kneser_ney", "absolute_discounting"])
@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_coalition_model_equals_model_trained_on_concatenated_texts(corpus, smoothing, order, sparse_share, monkeypatch):
    """Count additivity: summed per-work tables give the model trained on the coalition's text."""
    monkeypatch.setattr(ngram, "SPARSE_SHARE", sparse_share)  # both ways of finding the n-grams a removal touches
    case_dir, works, _ = corpus
    work_ids = list(works["id"])
    discounts = [0.5, 0.6, 0.7, 0.8][:order]
    train, bench, _, index = prepare(case_dir, works, order=order, smoothing=smoothing, discounts=discounts,
                                     cloze=3, max_items=12)
    seed, fraction = 4, 0.7
    tables = ngram.build_seed_tables(index, seed, work_ids, fraction)
    scoring = index.without_plan()
    for removed in [(), (0,), (0, 1), (2, 3, 4, 5), (1, 3, 5), (0, 1, 2, 3, 4), (0, 1, 2, 3, 4, 5)]:
        fast = ngram.coalition_log2prob(scoring, tables, np.array(removed, dtype=np.int64))
        slow = reference_log2prob(train, bench, index, work_ids, set(removed), seed, fraction)
        np.testing.assert_allclose(fast, slow, rtol=1e-12, atol=1e-12, err_msg=f"removed={removed}")


def test_reference_distribution_sums_to_one(corpus):
    """The oracle itself: P(. | h) sums to one over the V words, for seen and unseen histories."""
    case_dir, works, _ = corpus
    train, _, vocabulary, _ = prepare(case_dir, works, order=3)
    sentences = [train.sentences(w)[i].tolist() for w in range(train.n_texts) for i in range(5)]
    words = range(1, vocabulary.size + 1)  # </s>, <unk> and the vocabulary words (not <s>)
    for smoothing in ("kneser_ney", "absolute_discounting"):
        model = ReferenceModel(sentences, 3, smoothing, [0.5, 0.6, 0.75], vocabulary.size)
        for history in [(0, 0), tuple(sentences[0][:2]), (sentences[0][0], 99999)]:
            assert sum(model.probability(history, word) for word in words) == pytest.approx(1.0, abs=1e-12)


def test_no_data_is_uniform_and_full_data_is_better(corpus):
    case_dir, works, _ = corpus
    _, _, vocabulary, index = prepare(case_dir, works)
    tables = ngram.build_seed_tables(index, 1, list(works["id"]), 0.9)
    nothing = ngram.coalition_log2prob(index, tables, np.arange(index.n_works))
    np.testing.assert_allclose(nothing, -np.log2(vocabulary.size), rtol=1e-15)
    full = ngram.score_items(index, ngram.coalition_log2prob(index, tables, np.zeros(0, dtype=np.int64)))
    assert full["neg_bits_per_token"].mean() > -np.log2(vocabulary.size) + 1


def test_seeds_subsample_different_sentences():
    first = ngram.kept_sentences(100, 1, "work-a", 0.9)
    assert len(first) == 90 and np.all(np.diff(first) > 0)
    assert np.array_equal(first, ngram.kept_sentences(100, 1, "work-a", 0.9))  # reproducible
    assert not np.array_equal(first, ngram.kept_sentences(100, 2, "work-a", 0.9))  # another seed
    assert not np.array_equal(first, ngram.kept_sentences(100, 1, "work-b", 0.9))  # another work
    assert np.array_equal(ngram.kept_sentences(100, 1, "work-a", 1.0), np.arange(100))
    assert len(ngram.kept_sentences(3, 1, "w", 0.01)) == 1  # never an empty work


def test_seeds_give_different_models(corpus):
    case_dir, works, _ = corpus
    _, _, _, index = prepare(case_dir, works)
    work_ids = list(works["id"])
    scores = {seed: ngram.score_items(index, ngram.coalition_log2prob(
        index, ngram.build_seed_tables(index, seed, work_ids, 0.8), np.zeros(0, np.int64)))["neg_bits_per_token"]
        for seed in (1, 2)}
    assert not np.array_equal(scores[1], scores[2])
    again = ngram.score_items(index, ngram.coalition_log2prob(
        index, ngram.build_seed_tables(index, 1, work_ids, 0.8), np.zeros(0, np.int64)))["neg_bits_per_token"]
    assert np.array_equal(scores[1], again)


def test_removal_side_does_not_change_results(corpus):
    """Subtracting removed works from the full model and summing kept works agree exactly."""
    case_dir, works, _ = corpus
    _, _, _, index = prepare(case_dir, works, cloze=2)
    tables = ngram.build_seed_tables(index, 3, list(works["id"]), 0.8)
    for size in range(0, 7):
        for removed in itertools.combinations(range(6), size):
            removed = np.array(removed, dtype=np.int64)
            raw, typ = ngram.coalition_statistics(index, tables, removed)
            kept = np.setdiff1d(np.arange(6), removed)
            raw_sum = np.asarray(tables.raw[kept].sum(axis=0)).reshape(-1)
            present = np.flatnonzero(np.asarray(tables.presence[kept].sum(axis=0)).reshape(-1) > 0)
            assert np.array_equal(raw, raw_sum)
            assert np.array_equal(typ, ngram._type_counts(index, present))


def test_items_and_cloze(corpus):
    case_dir, works, _ = corpus
    _, bench, _, index = prepare(case_dir, works, cloze=4, item_tokens=10, max_items=7)
    assert index.n_items == 7 and index.n_true == 70
    assert index.item_ids[0].endswith("#0000")
    assert index.cloze_distractors.shape == (len(index.cloze_position), 4)
    truth = index.query_words[index.cloze_position]
    assert np.all(truth >= 3)  # questions only about vocabulary words
    assert not np.any(index.query_words[index.cloze_distractors] == truth[:, None])
    tables = ngram.build_seed_tables(index, 1, list(works["id"]), 1.0)
    full = ngram.score_items(index, ngram.coalition_log2prob(index, tables, np.zeros(0, np.int64)))
    nothing = ngram.score_items(index, ngram.coalition_log2prob(index, tables, np.arange(6)))
    # without data every word is equally likely: every question is a tie of k + 1 words
    np.testing.assert_allclose(nothing["cloze"], 1 / 5)
    assert full["cloze"].mean() > 0.5


def test_item_layout():
    ids, texts, firsts = ngram.item_layout([35, 9, 20], ["x", "y", "z"], 10)
    assert ids == ("x#0000", "x#0001", "x#0002", "z#0000", "z#0001")
    assert texts.tolist() == [0, 0, 0, 2, 2] and firsts.tolist() == [0, 10, 20, 0, 10]
    ids, _, _ = ngram.item_layout([35, 9, 20], ["x", "y", "z"], 10, max_items=3)
    assert ids == ("x#0000", "x#0002", "z#0001")


def test_build_index_iv(corpus):
    case_dir, works, _ = corpus
    with pytest.raises(ValueError, match="`discounts` must hold 3 numbers in"):
        prepare(case_dir, works, discounts=[0.5, 1.0, 0.5])
    with pytest.raises(ValueError, match="`smoothing` must be"):
        prepare(case_dir, works, smoothing="witten_bell")
    with pytest.raises(ValueError, match="fewer than `item_tokens`"):
        prepare(case_dir, works, item_tokens=100_000)
    _, _, _, index = prepare(case_dir, works)
    with pytest.raises(ValueError, match="no counting plan"):
        ngram.build_seed_tables(index.without_plan(), 1, list(works["id"]), 0.9)


def test_encode_documents_matches_the_two_step_encoding(corpus):
    case_dir, works, _ = corpus
    texts = [read_text(case_dir / path) for path in works["text"]]
    sentences = [ngram.split_sentences(text) for text in texts]
    for min_count in (1, 3):
        expected_vocabulary = ngram.build_vocabulary(sentences, min_count)
        expected = ngram.encode_texts(sentences, expected_vocabulary)
        vocabulary, encoded = ngram.encode_documents(iter(texts), min_count)
        assert vocabulary.words == expected_vocabulary.words
        assert np.array_equal(vocabulary.counts, expected_vocabulary.counts)
        for name in ("tokens", "sentence_offsets", "text_offsets"):
            assert np.array_equal(getattr(encoded, name), getattr(expected, name)), name


@pytest.mark.parametrize("grouping", [[0, 0, 1, 1, 2, 2], [0, 1, 2, 3, 4, 5], [0, 0, 0, 0, 1, 1]])
def test_group_tables_give_every_coalition_exactly(corpus, grouping):
    """The zeta-transformed group tables agree with the per-work path for all 2^k coalitions."""
    case_dir, works, _ = corpus
    _, _, _, index = prepare(case_dir, works, cloze=2)
    tables = ngram.build_seed_tables(index, 2, list(works["id"]), 0.8)
    membership = np.array(grouping)
    k = membership.max() + 1
    groups = ngram.build_group_tables(index, tables, membership)
    for present in range(2**k):
        removed = np.flatnonzero(((present >> membership) & 1) == 0)
        expected = ngram.coalition_statistics(index, tables, removed)
        got = ngram.group_coalition_statistics(index, tables, groups, present)
        assert np.array_equal(got[0], expected[0]) and np.array_equal(got[1], expected[1]), present


def test_group_tables_refuse_too_many_groups(corpus, monkeypatch):
    case_dir, works, _ = corpus
    _, _, _, index = prepare(case_dir, works)
    tables = ngram.build_seed_tables(index, 2, list(works["id"]), 0.8)
    monkeypatch.setattr(ngram, "MAX_GROUP_TABLE_ENTRIES", 4 * index.n_type)
    assert ngram.group_tables_fit(index, 2) and not ngram.group_tables_fit(index, 3)
    with pytest.raises(ValueError, match="A grouping of 3 groups needs 2\\^3"):
        ngram.build_group_tables(index, tables, np.array([0, 0, 1, 1, 2, 2]))
