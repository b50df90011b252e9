"""Tests of expert._yaml.load_yaml: lines, duplicate keys, refused tags, alias bombs."""

from __future__ import annotations

import datetime

import pytest
import yaml

from expert._yaml import format_path, load_yaml

TEXT = """\
a:
  b: 1
  c:
    - x
    - {d: 2}
e: 2025-01-31
"""


def test_load_yaml_values_and_lines():
    located = load_yaml(TEXT, "f.yaml")
    assert located.data == {"a": {"b": 1, "c": ["x", {"d": 2}]}, "e": datetime.date(2025, 1, 31)}
    assert located.problems == []
    assert located.lines[("a",)] == 2  # the value (a block) starts on the next line
    assert located.key_lines[("a",)] == 1  # the key itself
    assert located.lines[("a", "c", 1, "d")] == 5
    assert located.line_of(("a", "c", 1, "d")) == 5
    assert located.line_of(("a", "missing", "deeper")) == 2  # nearest ancestor
    assert located.line_of(()) == 1


def test_load_yaml_duplicate_keys_everywhere():
    located = load_yaml("a: 1\nb:\n  - {x: 1, x: 2}\na: 3\n", "f.yaml")
    assert located.problems == [
        "f.yaml:3: b[0].x: expected each key once, found it again (first at line 3)",
        "f.yaml:4: a: expected each key once, found it again (first at line 1)",
    ]
    assert located.data == {"a": 1, "b": [{"x": 1}]}  # the first one is kept, and the loss reported


def test_load_yaml_refuses_tags():
    located = load_yaml("a: !!python/tuple [1, 2]\nb: !!binary aGk=\nc: !custom 1\n", "f.yaml")
    assert [problem.split(": expected")[0] for problem in located.problems] == ["f.yaml:1: a", "f.yaml:3: c"]
    assert located.data == {"a": None, "b": b"hi", "c": None}  # !!binary is a safe YAML type


def test_load_yaml_alias_bomb():
    text = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for level in "bcdefgh":
        previous = chr(ord(level) - 1)
        text += f"{level}: &{level} [*{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}, " \
                f"*{previous}, *{previous}, *{previous}, *{previous}]\n"
    located = load_yaml(text, "bomb.yaml", max_nodes=10_000)
    assert located.data is None
    assert located.problems == ["bomb.yaml:1: (document): expected at most 10000 nodes, found more (alias expansion?)"]


def test_load_yaml_syntax_error_propagates():
    with pytest.raises(yaml.MarkedYAMLError):
        load_yaml("a: [1, 2\n", "f.yaml")
    assert load_yaml("", "f.yaml").data is None


def test_format_path():
    assert format_path(("a", "b", 2, "c")) == "a.b[2].c"
    assert format_path(()) == "(document)"
