"""Tests of expert.case.load_case: the schema, located messages, works and groupings."""

from __future__ import annotations

import datetime
import hashlib
import re

import numpy as np
import pytest

from expert.case import load_case
from expert.errors import CaseError, InputError

BASE = """\
matter:
  title: Test matter
  date: 2025-01-31
works: works.csv
groupings:
  work: {by: id}
  publisher: {by: publisher}
  sector: {by: sector}
evidence:
  runs: runs.csv
"""


@pytest.fixture
def write_text(tmp_path, write_case):
    """Write the default works and runs, then ``case.yaml`` with the given text."""

    def write(text: str, works_csv: str | None = None):
        path = write_case(tmp_path)
        path.write_text(text, encoding="utf-8")
        if works_csv is not None:
            (tmp_path / "works.csv").write_text(works_csv, encoding="utf-8")
        return path

    return write


def problems_of(path) -> list[str]:
    with pytest.raises(CaseError) as excinfo:
        load_case(path)
    return excinfo.value.problems


# ----------------------------------------------------------------------------- a valid case


def test_load_case_valid(case_path):
    case = load_case(case_path)
    assert case.path == case_path.resolve()
    assert case.matter.title == "Test matter"
    assert case.matter.date == datetime.date(2025, 1, 31)
    assert case.work_ids == ("a", "b", "c", "d", "e", "f")
    assert [grouping.name for grouping in case.groupings] == ["work", "publisher", "sector"]
    publisher = case.grouping("publisher")
    assert publisher.groups == ("P1", "P2", "P3")
    np.testing.assert_array_equal(publisher.membership, [0, 0, 1, 1, 2, 2])
    np.testing.assert_array_equal(publisher.members("P2"), [2, 3])
    np.testing.assert_array_equal(publisher.sizes, [2, 2, 2])
    assert case.grouping("work").is_singletons and not publisher.is_singletons
    assert publisher.by == "publisher"
    with pytest.raises(KeyError):
        case.grouping("guild")
    # defaults of the optional sections
    assert case.analysis.methods == ["loo"]
    assert case.analysis.bootstrap.resamples == 200  # set by the fixture
    assert case.analysis.bootstrap.interval == "bca"
    assert case.report.formats == ["pdf", "html", "csv", "json"]
    assert case.resolve("runs.csv") == (case_path.parent / "runs.csv").resolve()


def test_load_case_inputs_have_sha256(case_path):
    case = load_case(case_path)
    roles = [item.role for item in case.inputs]
    assert roles == ["case file", "works table", "run table"]
    for item in case.inputs:
        raw = item.path.read_bytes()
        assert item.sha256 == hashlib.sha256(raw).hexdigest()
        assert item.size == len(raw)


def test_load_case_inline_works(tmp_path, write_case):
    path = write_case(tmp_path, works="inline")
    case = load_case(path)
    assert case.work_ids == ("a", "b", "c", "d", "e", "f")
    assert list(case.works["publisher"]) == ["P1", "P1", "P2", "P2", "P3", "P3"]
    assert [item.role for item in case.inputs] == ["case file", "run table"]


def test_load_case_inline_works_message_points_at_case_file(write_text):
    text = BASE.replace("works: works.csv", "works:\n- {id: a}\n- {id: a}").replace(
        "  publisher: {by: publisher}\n  sector: {by: sector}\n", "")
    problems = problems_of(write_text(text))
    assert problems == ["case.yaml:6: id: expected a unique work id, found 'a' again (first at case.yaml:5)"]


def test_load_case_keys_are_kept_as_written(write_text):
    # YAML 1.1 reads `no:`/`yes:` as booleans and `007:` as an int; group names are names
    text = BASE.replace("  sector: {by: sector}", "  guild: {groups: {no: [a], yes: [b], 007: rest}}")
    case = load_case(write_text(text))
    assert case.grouping("guild").groups == ("no", "yes", "007")


# ----------------------------------------------------------------------------- the file and YAML


def test_load_case_iv_missing_file(tmp_path):
    path = tmp_path / "nope.yaml"
    message = f"{path}: expected a case file, found no such file"
    with pytest.raises(CaseError, match=re.escape(message)) as excinfo:
        load_case(path)
    assert isinstance(excinfo.value, InputError) and excinfo.value.exit_code == 2


def test_load_case_iv_folder(tmp_path):
    message = f"{tmp_path}: expected a case file, found a folder"
    with pytest.raises(CaseError, match=re.escape(message)):
        load_case(tmp_path)


def test_load_case_iv_yaml_syntax_error(write_text):
    path = write_text(BASE.replace("  title: Test matter", "  title: [unclosed"))
    message = "case.yaml:3: (document): expected valid YAML, found a syntax error: expected ',' or ']'"
    with pytest.raises(CaseError, match=re.escape(message)):
        load_case(path)


def test_load_case_iv_tabs(write_text):
    path = write_text(BASE.replace("  title: Test matter", "\ttitle: Test matter"))
    message = "case.yaml:2: (document): expected valid YAML, found a syntax error: found character '\\t' that cannot "
    with pytest.raises(CaseError, match=re.escape(message)) as excinfo:
        load_case(path)
    assert "tabs are not allowed for indentation in YAML; use spaces" in str(excinfo.value)


def test_load_case_iv_duplicate_keys(write_text):
    path = write_text(BASE.replace("  date: 2025-01-31\n", "  date: 2025-01-31\n  title: Other\n"))
    message = "case.yaml:4: matter.title: expected each key once, found it again (first at line 2)"
    with pytest.raises(CaseError, match=re.escape(message)) as excinfo:
        load_case(path)
    assert excinfo.value.problems == [message]


@pytest.mark.parametrize("value, tag", [
    ("!!python/object/apply:os.system [echo hi]", "python/object/apply:os.system"),  # on a sequence
    ("!!python/object:expert.case.Case {path: x}", "python/object:expert.case.Case"),  # on a mapping
    ("!!python/name:os.system ''", "python/name:os.system"),  # on a scalar
])
def test_load_case_iv_python_tags_refused(write_text, value, tag):
    path = write_text(BASE.replace("  title: Test matter", f"  title: {value}"))
    message = f"case.yaml:2: matter.title: expected a plain value, found the tag 'tag:yaml.org,2002:{tag}'"
    with pytest.raises(CaseError, match=re.escape(message)) as excinfo:
        load_case(path)
    # reported once, not again as "expected a valid string, found nothing"
    assert len(excinfo.value.problems) == 1, excinfo.value.problems


@pytest.mark.parametrize("text, found", [("", "an empty file"), ("- a\n- b\n", "a list"), ("just text\n", "a str")])
def test_load_case_iv_not_a_mapping(write_text, text, found):
    message = f"case.yaml:1: (document): expected a mapping with matter, works, groupings, evidence; found {found}"
    with pytest.raises(CaseError, match=re.escape(message)):
        load_case(write_text(text))


def test_load_case_iv_not_utf8(write_text):
    path = write_text(BASE)
    path.write_bytes(BASE.encode() + b"# caf\xe9\n")
    message = "case.yaml:11: (document): expected UTF-8 text, found byte 0xe9"
    with pytest.raises(CaseError, match=re.escape(message)):
        load_case(path)


# ----------------------------------------------------------------------------- schema


def test_load_case_iv_unknown_top_level_key(write_text):
    path = write_text(BASE.replace("groupings:", "groupngs:"))
    message = ("case.yaml:5: groupngs: expected one of the keys matter, works, groupings, evidence, analysis, claimants, scenarios, report, "
               "found unknown key 'groupngs'; did you mean 'groupings'?")
    with pytest.raises(CaseError, match=re.escape(message)) as excinfo:
        load_case(path)
    # and the real key is then missing
    assert "case.yaml:1: groupings: expected a value (required), found nothing" in excinfo.value.problems


def test_load_case_iv_unknown_nested_key(write_text):
    path = write_text(BASE + "analysis:\n  bootstrap:\n    resample: 10\n")
    message = ("case.yaml:13: analysis.bootstrap.resample: expected one of the keys resamples, confidence, interval, "
               "seed, found unknown key 'resample'; did you mean 'resamples'?")
    with pytest.raises(CaseError, match=re.escape(message)):
        load_case(path)


def test_load_case_iv_unknown_key_in_grouping(write_text):
    path = write_text(BASE.replace("  sector: {by: sector}", "  sector:\n    bye: sector"))
    message = "case.yaml:9: groupings.sector.bye: expected one of the keys by, groups, found unknown key 'bye'; did you mean 'by'?"
    with pytest.raises(CaseError, match=re.escape(message)):
        load_case(path)


@pytest.mark.parametrize("field, line", [("title", 2), ("date", 2)])
def test_load_case_iv_missing_matter_field(write_text, field, line):
    text = BASE.replace("  title: Test matter\n" if field == "title" else "  date: 2025-01-31\n", "")
    message = f"case.yaml:{line}: matter.{field}: expected a value (required), found nothing"
    with pytest.raises(CaseError, match=re.escape(message)):
        load_case(write_text(text))


@pytest.mark.parametrize("setting, message", [
    ("resamples: -5", "case.yaml:13: analysis.bootstrap.resamples: expected greater than or equal to 1, found -5"),
    ("resamples: ten", "case.yaml:13: analysis.bootstrap.resamples: expected a valid integer, unable to parse string "
                       "as an integer, found 'ten'"),
    ("confidence: 1.5", "case.yaml:13: analysis.bootstrap.confidence: expected less than 1, found 1.5"),
    ("interval: basic", "case.yaml:13: analysis.bootstrap.interval: expected 'bca' or 'percentile', found 'basic'"),
])
def test_load_case_iv_wrong_types(write_text, setting, message):
    path = write_text(BASE + f"analysis:\n  bootstrap:\n    {setting}\n")
    with pytest.raises(CaseError, match=re.escape(message)) as excinfo:
        load_case(path)
    assert excinfo.value.problems == [message]


def test_load_case_iv_bad_date(write_text):
    path = write_text(BASE.replace("2025-01-31", "tomorrow"))
    message = "case.yaml:3: matter.date: expected a valid date or datetime"
    with pytest.raises(CaseError, match=re.escape(message)):
        load_case(path)


def test_load_case_iv_unknown_method(write_text):
    path = write_text(BASE + "analysis:\n  methods: [loo, shapely]\n")
    message = "case.yaml:12: analysis.methods"
    with pytest.raises(CaseError, match=re.escape(message)) as excinfo:
        load_case(path)
    assert "'shapely'" in str(excinfo.value) and "loo" in str(excinfo.value)


def test_load_case_iv_all_problems_at_once(write_text):
    text = BASE.replace("  title: Test matter\n", "").replace("groupings:", "groupngs:")
    path = write_text(text + "analysis:\n  bootstrap:\n    resamples: ten\n")
    problems = problems_of(path)
    assert len(problems) == 4, problems  # title, groupngs (unknown), groupings (missing), resamples
    assert sorted(problem.split(": ")[1] for problem in problems) == [
        "analysis.bootstrap.resamples", "groupings", "groupngs", "matter.title"]


def test_load_case_iv_three_problems_three_messages(write_text):
    # three independent problems in works, groupings and evidence, found after the schema passed
    text = (BASE.replace("  publisher: {by: publisher}", "  publisher: {by: publsher}")
            .replace("  sector: {by: sector}", "  guild: {groups: {g1: [a, b, zz], g2: rest}}")
            .replace("runs: runs.csv", "runs: missing.csv"))
    problems = problems_of(write_text(text))
    assert problems == [
        "case.yaml:7: groupings.publisher.by: expected a column of the works table (id, publisher, sector, tokens), "
        "found 'publsher'",
        "case.yaml:8: groupings.guild.groups.g1[2]: expected a work id of the works table, found 'zz'",
        "case.yaml:10: evidence.runs: expected a run table file, found no such file (missing.csv)",
    ]


def test_load_case_every_message_starts_with_file_and_line(write_text):
    text = (BASE.replace("  title: Test matter\n", "  title: Test matter\n  titel: x\n")
            .replace("  sector: {by: sector}", "  sector: {by: sectr}"))
    problems = problems_of(write_text(text + "analysis:\n  bootstrap: {confidence: 2}\nreport: {top_rows: 0}\n"))
    assert len(problems) == 3, problems
    for problem in problems:
        assert re.match(r"^case\.yaml:\d+: \S+: expected ", problem), problem
    problems = problems_of(write_text(BASE.replace("  sector: {by: sector}", "  sector: {by: sectr}")))
    assert len(problems) == 1 and re.match(r"^case\.yaml:8: ", problems[0])


# ----------------------------------------------------------------------------- works


def test_load_case_iv_works_file_missing(write_text):
    path = write_text(BASE.replace("works: works.csv", "works: wroks.csv"))
    message = "case.yaml:4: works: expected a CSV file of works, found no such file (wroks.csv)"
    with pytest.raises(CaseError, match=re.escape(message)):
        load_case(path)


def test_load_case_iv_works_no_id_column(write_text):
    path = write_text(BASE, works_csv="name,publisher,sector\na,P1,S1\n")
    message = "works.csv:1: id: expected a column `id`, found columns ['name', 'publisher', 'sector']"
    with pytest.raises(CaseError, match=re.escape(message)):
        load_case(path)


def test_load_case_iv_works_duplicate_ids(write_text):
    path = write_text(BASE, works_csv="id,publisher,sector\na,P1,S1\nb,P1,S1\na,P2,S1\n")
    message = "works.csv:4: id: expected a unique work id, found 'a' again (first at works.csv:2)"
    with pytest.raises(CaseError, match=re.escape(message)) as excinfo:
        load_case(path)
    assert excinfo.value.problems == [message]


def test_load_case_iv_works_empty_ids(write_text):
    path = write_text(BASE.replace("  work: {by: id}\n", ""), works_csv="id,publisher,sector\na,P1,S1\n,P1,S1\n  ,P2,S1\n")
    problems = problems_of(path)
    assert problems == ["works.csv:3: id: expected a work id, found an empty cell",
                        "works.csv:4: id: expected a work id, found an empty cell"]


def test_load_case_iv_works_empty(write_text):
    message = "works.csv:1: (file): expected a header row with an `id` column, found an empty file"
    with pytest.raises(CaseError, match=re.escape(message)):
        load_case(write_text(BASE, works_csv=""))
    message = "works.csv:2: works: expected at least one work, found none"
    with pytest.raises(CaseError, match=re.escape(message)):
        load_case(write_text(BASE, works_csv="id,publisher,sector\n"))


def test_load_case_iv_works_malformed_csv(write_text):
    path = write_text(BASE, works_csv="id,publisher,sector\na,P1,S1\nb,P1,S1,extra\n")
    message = "works.csv:3: (file): expected a well-formed CSV, found: "
    with pytest.raises(CaseError, match=re.escape(message)):
        load_case(path)


def test_load_case_iv_works_empty_group_cell(write_text):
    path = write_text(BASE, works_csv="id,publisher,sector\na,P1,S1\nb,,S1\n")
    message = "works.csv:3: publisher: expected a group for grouping 'publisher', found an empty cell"
    with pytest.raises(CaseError, match=re.escape(message)):
        load_case(path)


# ----------------------------------------------------------------------------- groupings


def test_load_case_iv_grouping_unknown_column(write_text):
    path = write_text(BASE.replace("{by: publisher}", "{by: publsher}"))
    message = ("case.yaml:7: groupings.publisher.by: expected a column of the works table (id, publisher, sector, "
               "tokens), found 'publsher'")
    with pytest.raises(CaseError, match=re.escape(message)):
        load_case(path)


def test_load_case_iv_groups_unknown_work(write_text):
    path = write_text(BASE.replace("  sector: {by: sector}", "  guild:\n    groups:\n      g1: [a, b, cc]\n      g2: rest"))
    message = "case.yaml:10: groupings.guild.groups.g1[2]: expected a work id of the works table, found 'cc'; did you mean 'c'?"
    with pytest.raises(CaseError, match=re.escape(message)):
        load_case(path)


def test_load_case_iv_work_in_two_groups(write_text):
    path = write_text(BASE.replace("  sector: {by: sector}", "  guild:\n    groups:\n      g1: [a, b]\n      g2: [c, a]\n"
                                   "      g3: rest"))
    message = "case.yaml:11: groupings.guild.groups.g2[1]: expected each work in one group, found 'a' also in group 'g1'"
    with pytest.raises(CaseError, match=re.escape(message)):
        load_case(path)


def test_load_case_iv_strays_without_rest(write_text):
    path = write_text(BASE.replace("  sector: {by: sector}", "  guild:\n    groups:\n      g1: [a, b]\n      g2: [c]"))
    message = ("case.yaml:9: groupings.guild.groups: expected every work in exactly one group (or a group `rest`), "
               "found works in no group: 'd', 'e', 'f'")
    with pytest.raises(CaseError, match=re.escape(message)):
        load_case(path)


def test_load_case_rest_takes_the_strays(write_text):
    path = write_text(BASE.replace("  sector: {by: sector}", "  guild:\n    groups:\n      others: rest\n      g1: [a, c]"))
    guild = load_case(path).grouping("guild")
    assert guild.groups == ("others", "g1")
    assert guild.by is None
    np.testing.assert_array_equal(guild.membership, [1, 0, 1, 0, 0, 0])


def test_load_case_iv_two_rest(write_text):
    path = write_text(BASE.replace("  sector: {by: sector}", "  guild: {groups: {g1: rest, g2: rest}}"))
    message = "case.yaml:8: groupings.guild.groups: expected `rest` for at most one group, found it for ['g1', 'g2']"
    with pytest.raises(CaseError, match=re.escape(message)):
        load_case(path)


def test_load_case_iv_rest_left_empty(write_text):
    path = write_text(BASE.replace("  sector: {by: sector}", "  guild: {groups: {g1: [a, b, c, d, e, f], g2: rest}}"))
    message = "case.yaml:8: groupings.guild.groups: expected every group to hold at least one work, found empty groups ['g2']"
    with pytest.raises(CaseError, match=re.escape(message)):
        load_case(path)


@pytest.mark.parametrize("spec, found", [("{by: id, groups: {g: rest}}", "both"), ("{}", "neither")])
def test_load_case_iv_by_or_groups(write_text, spec, found):
    path = write_text(BASE.replace("  sector: {by: sector}", f"  guild: {spec}"))
    message = ("case.yaml:8: groupings.guild: expected exactly one of `by` (a works column) or `groups` (explicit lists), "
               f"found {found}")
    with pytest.raises(CaseError, match=re.escape(message)):
        load_case(path)


def test_load_case_iv_grouping_name(write_text):
    path = write_text(BASE.replace("  sector: {by: sector}", "  'sec:tor': {by: sector}"))
    message = "case.yaml:8: groupings.sec:tor: expected a grouping name without ':' or ';', found 'sec:tor'"
    with pytest.raises(CaseError, match=re.escape(message)):
        load_case(path)


def test_load_case_iv_no_groupings(write_text):
    path = write_text(BASE.replace("  work: {by: id}\n  publisher: {by: publisher}\n  sector: {by: sector}\n", "  {}\n"))
    message = "case.yaml:6: groupings: expected at least one grouping, found none"
    with pytest.raises(CaseError, match=re.escape(message)):
        load_case(path)


def test_load_case_nesting(write_text):
    case = load_case(write_text(BASE))
    assert case.nesting == (("work", "publisher", True), ("publisher", "sector", True))
    crossing = BASE.replace("  sector: {by: sector}", "  sector: {by: sector}\n  cross: {groups: {x: [a, c], y: rest}}")
    case = load_case(write_text(crossing))
    assert case.nesting[-1] == ("sector", "cross", False)
    # publisher P1 = {a, b} straddles x = {a, c} and y
    reordered = BASE.replace("  sector: {by: sector}", "  cross: {groups: {x: [a, c], y: rest}}")
    assert load_case(write_text(reordered)).nesting[-1] == ("publisher", "cross", False)


# ----------------------------------------------------------------------------- evidence and report


def test_load_case_iv_runs_missing(write_text):
    path = write_text(BASE.replace("runs: runs.csv", "runs: rnus.csv"))
    message = "case.yaml:10: evidence.runs: expected a run table file, found no such file (rnus.csv)"
    with pytest.raises(CaseError, match=re.escape(message)):
        load_case(path)


def test_load_case_iv_runs_wrong_suffix(write_text, tmp_path):
    (tmp_path / "runs.xlsx").write_text("x")
    path = write_text(BASE.replace("runs: runs.csv", "runs: runs.xlsx"))
    message = "case.yaml:10: evidence.runs: expected a .csv, .csv.gz or .parquet file, found 'runs.xlsx'"
    with pytest.raises(CaseError, match=re.escape(message)):
        load_case(path)


def test_load_case_iv_evidence_runs_required(write_text):
    path = write_text(BASE.replace("  runs: runs.csv", "  simulated: true"))
    message = "evidence: expected `runs` (a run table), `experiment` (a proxy experiment) or both, found neither"
    with pytest.raises(CaseError, match=r"case\.yaml:\d+: " + re.escape(message)):
        load_case(path)


def test_load_case_iv_template_dir(write_text):
    path = write_text(BASE + "report:\n  template_dir: my_templates\n")
    message = "case.yaml:12: report.template_dir: expected a folder of templates, found no such folder (my_templates)"
    with pytest.raises(CaseError, match=re.escape(message)):
        load_case(path)
