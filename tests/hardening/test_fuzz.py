"""Property tests: mutated inputs fail only with InputError; valid games keep their axioms.

1. Mutations of a valid case file (characters and lines deleted, duplicated, replaced,
   swapped; values swapped between keys) and of a valid run table (characters, cells,
   rows and columns) make :func:`expert.build.check` either succeed or raise
   :class:`expert.errors.InputError` -- never another exception.
2. Complete games on k <= 4 players, with planted utilities, through
   :func:`expert.analysis.analyse`: the Shapley values sum to v(N) - v(empty)
   (efficiency) on every benchmark and in every bootstrap replicate, symmetric
   players get equal Shapley, Banzhaf and Beta values, a null player gets zero, and
   leave-one-out is v(N) - v(N minus i).
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from hardening_case import CASE_YAML, RUN_COLUMNS, works_csv  # noqa: E402
from expert.analysis import MACRO, analyse  # noqa: E402
from expert.build import check  # noqa: E402
from expert.case import load_case  # noqa: E402
from expert.errors import InputError  # noqa: E402
from expert.evidence import read_runs  # noqa: E402
from expert.valuation.semivalues import coalition_label  # noqa: E402

# EXPERT_FUZZ_EXAMPLES=5000 runs a longer, randomised hunt; the default is a fixed, quick sample
HUNT = int(os.environ.get("EXPERT_FUZZ_EXAMPLES", "0"))
FUZZ = settings(max_examples=HUNT or 300, deadline=None, derandomize=not HUNT,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

# a small run table (full model and two leave-outs, 2 seeds, 2 benchmarks, 3 items): 36 rows
SMALL_CONFIGS = {"": 0.6, "work:w01": 0.59, "publisher:P2": 0.55}


def small_rows() -> list[list[str]]:
    rows = []
    for c, (removed, utility) in enumerate(SMALL_CONFIGS.items()):
        for s in (1, 2):
            for b in ("arc", "piqa"):
                for j in range(3):
                    rows.append([f"r{c}{s}", str(s), removed, b, f"i{j}", f"{utility + 0.01 * s - 0.02 * j:.4f}"])
    return rows


def to_csv(rows) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


SMALL_RUNS = to_csv([RUN_COLUMNS] + small_rows())
CLAIMANTS = """\
claimants:
  rights:
    author: {by: publisher, share: 0.5}
    publisher: {by: publisher, share: 0.5}
scenarios:
  s1: {grouping: publisher, method: loo, pool: {amount: 1000}, split: tokens}
"""
CASE_TEXT = CASE_YAML + CLAIMANTS

NASTY_CHARS = list(":-{}[],&*!|>'\"#%@`?\t\n \\") + ["\x00", "\u00e9", "\ufeff", "0", "9", ".", "e", "~"]
NASTY_CELLS = ["", " ", "nan", "inf", "-1e999", "1e999", "all", "work:*", "work:w99", "nobody:x", "work:", ":",
               "publisher:P1;sector:S1", ";", "x:y:z", '"', "1,2", "\u00e9", "\x00", "0x10", "-0", "1_000", "True",
               "\ufeff", "sector:*;work:w01"]


def write_case(root: Path, case_text: str | bytes, runs_text: str | bytes = SMALL_RUNS) -> Path:
    folder = Path(tempfile.mkdtemp(dir=root))
    (folder / "works.csv").write_text(works_csv(), encoding="utf-8")
    runs = runs_text.encode("utf-8", "surrogatepass") if isinstance(runs_text, str) else runs_text
    (folder / "runs.csv").write_bytes(runs)
    case = case_text.encode("utf-8", "surrogatepass") if isinstance(case_text, str) else case_text
    (folder / "case.yaml").write_bytes(case)
    return folder / "case.yaml"


def check_only_input_errors(path: Path, then_analyse: bool = False) -> None:
    """check() succeeds or raises InputError; with ``then_analyse``, a table that passes is also analysed."""
    try:
        case, runs = check(path)
    except InputError as error:
        assert error.problems, "an InputError lists at least one problem"
        for problem in error.problems:
            assert isinstance(problem, str) and problem.strip(), error.problems
            assert "Traceback" not in problem
        return
    if then_analyse:
        try:
            analysis = analyse(case, runs)
        except InputError:
            return
        assert len(analysis.valuations) > 0


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def test_unmutated_inputs_are_valid(root):
    case, runs = check(write_case(root, CASE_TEXT))
    assert runs.n_configurations == 3 and len(case.works) == 12


# ----------------------------------------------------------------------------- text mutations


@st.composite
def text_edit(draw, text_length: int):
    kind = draw(st.sampled_from(["delete", "duplicate", "replace", "insert"]))
    position = draw(st.integers(0, max(0, text_length - 1)))
    span = draw(st.integers(1, 6))
    char = draw(st.sampled_from(NASTY_CHARS))
    return kind, position, span, char


def apply_char_edit(text: str, edit) -> str:
    kind, position, span, char = edit
    position = min(position, len(text))
    if kind == "delete":
        return text[:position] + text[position + span:]
    if kind == "duplicate":
        return text[:position] + text[position:position + span] * 2 + text[position + span:]
    if kind == "replace":
        return text[:position] + char + text[position + 1:]
    return text[:position] + char + text[position:]


@st.composite
def line_edit(draw, n_lines: int):
    kind = draw(st.sampled_from(["delete", "duplicate", "swap", "swap_values", "indent", "dedent"]))
    first = draw(st.integers(0, n_lines - 1))
    second = draw(st.integers(0, n_lines - 1))
    return kind, first, second


def apply_line_edit(text: str, edit) -> str:
    lines = text.split("\n")
    kind, first, second = edit
    first, second = first % len(lines), second % len(lines)
    if kind == "delete":
        del lines[first]
    elif kind == "duplicate":
        lines.insert(first, lines[first])
    elif kind == "swap":
        lines[first], lines[second] = lines[second], lines[first]
    elif kind == "swap_values":
        a, b = lines[first].split(":", 1), lines[second].split(":", 1)
        if len(a) == 2 and len(b) == 2:
            lines[first], lines[second] = a[0] + ":" + b[1], b[0] + ":" + a[1]
    elif kind == "indent":
        lines[first] = "  " + lines[first]
    else:
        lines[first] = lines[first][2:] if lines[first].startswith("  ") else lines[first]
    return "\n".join(lines)


@FUZZ
@given(edits=st.lists(st.one_of(text_edit(len(CASE_TEXT)), line_edit(CASE_TEXT.count("\n"))), min_size=1, max_size=4))
def test_mutated_case_file_fails_only_with_input_error(root, edits):
    text = CASE_TEXT
    for edit in edits:
        text = apply_char_edit(text, edit) if len(edit) == 4 else apply_line_edit(text, edit)
    check_only_input_errors(write_case(root, text))


@FUZZ
@given(data=st.binary(min_size=0, max_size=200))
def test_arbitrary_bytes_as_case_file_fail_only_with_input_error(root, data):
    check_only_input_errors(write_case(root, data))


@FUZZ
@given(edits=st.lists(text_edit(len(SMALL_RUNS)), min_size=1, max_size=5))
def test_character_mutations_of_the_run_table_fail_only_with_input_error(root, edits):
    text = SMALL_RUNS
    for edit in edits:
        text = apply_char_edit(text, edit)
    check_only_input_errors(write_case(root, CASE_TEXT, text), then_analyse=True)


@st.composite
def table_edit(draw):
    n_rows = len(small_rows()) + 1  # with the header
    kind = draw(st.sampled_from(["cell", "cell", "cell", "swap_cells", "delete_row", "duplicate_row", "swap_rows",
                                 "delete_column", "swap_columns", "extra_cell"]))
    row = draw(st.integers(0, n_rows - 1))
    other_row = draw(st.integers(0, n_rows - 1))
    column = draw(st.integers(0, len(RUN_COLUMNS) - 1))
    other_column = draw(st.integers(0, len(RUN_COLUMNS) - 1))
    value = draw(st.sampled_from(NASTY_CELLS))
    return kind, row, other_row, column, other_column, value


def apply_table_edit(rows: list[list[str]], edit) -> list[list[str]]:
    kind, row, other_row, column, other_column, value = edit
    if not rows:
        return rows
    row, other_row = row % len(rows), other_row % len(rows)
    width = len(rows[row])
    if width == 0:
        return rows
    column, other_column = column % width, other_column % width
    if kind == "cell":
        rows[row][column] = value
    elif kind == "swap_cells":
        rows[row][column], rows[row][other_column] = rows[row][other_column], rows[row][column]
    elif kind == "delete_row":
        del rows[row]
    elif kind == "duplicate_row":
        rows.insert(row, list(rows[row]))
    elif kind == "swap_rows":
        rows[row], rows[other_row] = rows[other_row], rows[row]
    elif kind == "delete_column":
        rows = [r[:column] + r[column + 1:] for r in rows]
    elif kind == "swap_columns":
        for r in rows:
            if len(r) > max(column, other_column):
                r[column], r[other_column] = r[other_column], r[column]
    else:
        rows[row].append(value)
    return rows


@FUZZ
@given(edits=st.lists(table_edit(), min_size=1, max_size=5))
def test_cell_row_and_column_mutations_of_the_run_table_fail_only_with_input_error(root, edits):
    rows = [list(RUN_COLUMNS)] + small_rows()
    for edit in edits:
        rows = apply_table_edit(rows, edit)
    check_only_input_errors(write_case(root, CASE_TEXT, to_csv(rows)), then_analyse=True)


@settings(max_examples=30, deadline=None, derandomize=True)
@given(order=st.permutations(range(len(small_rows()))))
def test_row_order_does_not_change_the_run_table(root, order):
    rows = small_rows()
    _, reference = check(write_case(root, CASE_TEXT))
    _, shuffled = check(write_case(root, CASE_TEXT, to_csv([RUN_COLUMNS] + [rows[i] for i in order])))
    assert [c.removed for c in shuffled.configurations] == [c.removed for c in reference.configurations]
    for a, b in zip(shuffled.scores, reference.scores):
        np.testing.assert_array_equal(a, b)


# ----------------------------------------------------------------------------- axioms on complete games

GAME_CASE = """\
matter:
  title: Game
  date: 2025-01-31
works: works.csv
groupings:
  player: {{by: id}}
evidence:
  runs: runs.csv
analysis:
  methods: [loo, shapley, banzhaf, 'beta(4,1)']
  bootstrap: {{resamples: {resamples}, confidence: 0.9, interval: percentile, seed: 3}}
"""


@st.composite
def games(draw):
    """(k, utilities over masks of present players, symmetric pair or None, null player or None, seeds, items)."""
    k = draw(st.integers(1, 4))
    values = draw(st.lists(st.floats(0.0, 1.0, allow_nan=False, width=32), min_size=2 ** k, max_size=2 ** k))
    utilities = np.array(values, dtype=float)
    pair = None
    if k >= 2 and draw(st.booleans()):
        i, j = draw(st.lists(st.integers(0, k - 1), min_size=2, max_size=2, unique=True))
        pair = (i, j)
        for mask in range(2 ** k):  # make v invariant under swapping i and j: copy the value of the swapped mask
            bi, bj = (mask >> i) & 1, (mask >> j) & 1
            if bi == 1 and bj == 0:
                swapped = mask ^ (1 << i) ^ (1 << j)
                utilities[mask] = utilities[swapped]
    null = None
    if k >= 2 and pair is None and draw(st.booleans()):
        null = draw(st.integers(0, k - 1))
        for mask in range(2 ** k):
            if (mask >> null) & 1:
                utilities[mask] = utilities[mask ^ (1 << null)]
    n_seeds = draw(st.sampled_from([1, 2, 3]))
    n_items = draw(st.sampled_from([None, 1, 4]))
    noise = draw(st.sampled_from([0.0, 0.05]))
    return k, utilities, pair, null, n_seeds, n_items, noise


def game_table(k, utilities, n_seeds, n_items, noise, rng) -> str:
    players = [f"p{i}" for i in range(k)]
    rows = [["run", "seed", "removed", "benchmark"] + (["item"] if n_items else []) + ["score"]]
    for benchmark in ("b1", "b2"):
        seed_effect = rng.normal(0, noise, n_seeds)
        item_effect = rng.normal(0, noise, n_items or 1)
        for mask in range(2 ** k):
            removed = coalition_label(mask, players, "player")
            for s in range(n_seeds):
                for j in range(n_items or 1):
                    score = utilities[mask] + seed_effect[s] + item_effect[j]
                    row = [f"m{mask}s{s}", str(s), removed, benchmark] + ([f"i{j}"] if n_items else []) + [f"{score:.17g}"]
                    rows.append(row)
    return to_csv(rows)


@pytest.mark.filterwarnings("ignore:All-NaN slice:RuntimeWarning", "ignore:invalid value:RuntimeWarning")
@settings(max_examples=60, deadline=None, derandomize=True)
@given(game=games())
def test_complete_games_satisfy_the_shapley_axioms(root, game):
    k, utilities, pair, null, n_seeds, n_items, noise = game
    folder = Path(tempfile.mkdtemp(dir=root))
    (folder / "works.csv").write_text("id\n" + "".join(f"p{i}\n" for i in range(k)), encoding="utf-8")
    (folder / "runs.csv").write_text(game_table(k, utilities, n_seeds, n_items, noise, np.random.default_rng(k)),
                                     encoding="utf-8")
    (folder / "case.yaml").write_text(GAME_CASE.format(resamples=40), encoding="utf-8")
    case = load_case(folder / "case.yaml")
    analysis = analyse(case, read_runs(case))
    full, empty = 2 ** k - 1, 0
    players = [f"p{i}" for i in range(k)]
    utility = analysis.utilities.set_index(["benchmark", "group"])["estimate"]
    boot = analysis.bootstrap

    for benchmark in analysis.benchmarks:
        total = utility[(benchmark, "")] - utility[(benchmark, "player:*")]
        shapley = analysis.values("shapley", "player", benchmark).set_index("group").loc[players, "estimate"]
        assert shapley.sum() == pytest.approx(total, rel=1e-9, abs=1e-12), "efficiency"
        loo = analysis.values("loo", "player", benchmark).set_index("group")["estimate"]
        for i, player in enumerate(players):
            without = coalition_label(full ^ (1 << i), players, "player")
            assert loo[player] == pytest.approx(utility[(benchmark, "")] - utility[(benchmark, without)], abs=1e-12)
        for method in ("shapley", "banzhaf", "beta(4,1)"):
            values = analysis.values(method, "player", benchmark).set_index("group")["estimate"]
            if pair is not None:
                assert values[players[pair[0]]] == pytest.approx(values[players[pair[1]]], abs=1e-9), f"{method} symmetry"
            if null is not None:
                assert values[players[null]] == pytest.approx(0.0, abs=1e-9), f"{method} null player"

    # efficiency holds in every bootstrap replicate, not just for the point estimate (W @ U* from the same replicates)
    rows = analysis.valued.rows
    weights = analysis.valued.weights
    shapley_rows = np.flatnonzero(((rows["method"] == "shapley") & (rows["grouping"] == "player")).to_numpy())
    configs = {c.label: c.index for c in analysis.runs.configurations}
    for b in range(len(analysis.runs.benchmarks)):
        replicates = boot.replicates[b]  # (configurations, resamples)
        values = weights[shapley_rows] @ replicates
        totals = replicates[configs[""]] - replicates[configs["player:*"]]
        np.testing.assert_allclose(values.sum(axis=0), totals, rtol=1e-9, atol=1e-12)
    assert np.isfinite(analysis.values("shapley", "player", MACRO)["estimate"]).all()
    del empty
