"""The report context is a documented contract; rendering is escaped and strict."""

from __future__ import annotations

import jinja2
import pytest

from expert.report.context import context_fields
from expert.report.render import format_number, make_environment


def test_every_context_field_has_help():
    missing = [name for name, text in context_fields().items() if not text.strip()]
    assert missing == []


def test_templates_use_only_documented_fields():
    environment = make_environment()
    source = environment.loader.get_source(environment, "report.html")[0]
    from jinja2 import meta

    used = meta.find_undeclared_variables(environment.parse(source)) - {"ex"}  # ex: the imported macros
    assert used <= set(context_fields()), used - set(context_fields())


def test_autoescape_and_strict_undefined():
    environment = make_environment()
    template = environment.from_string("{{ value }}")
    assert template.render(value="<img src=x>{{ 7*7 }}") == "&lt;img src=x&gt;{{ 7*7 }}"
    with pytest.raises(jinja2.UndefinedError):
        environment.from_string("{{ nothing }}").render()


@pytest.mark.parametrize("value, text", [(0.1234, "0.123"), (-0.1234, "\u22120.123"), (-0.0001, "0.000"),
                                         (None, "n/a"), (float("nan"), "n/a"), (1234.5, "1,234.500")])
def test_format_number(value, text):
    assert format_number(value) == text
