"""The command line: parsing, exit codes and messages."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

from click.testing import CliRunner

from expert.cli import cli

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "cases" / "demo" / "case.yaml"


def test_help_lists_commands():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0, result.output
    assert "build" in result.output and "validate" in result.output


def test_build_passes_arguments_to_the_pipeline(tmp_path):
    with mock.patch("expert.build.build", autospec=True) as build:
        build.return_value = mock.Mock(warnings=(), files=(), out_dir=tmp_path)
        result = CliRunner().invoke(cli, ["build", str(DEMO), "-o", str(tmp_path), "--format", "csv,json",
                                          "--resamples", "99", "--seed", "7", "-q"])
    assert result.exit_code == 0, result.output
    args, kwargs = build.call_args
    assert args[:3] == (str(DEMO), str(tmp_path), ["csv", "json"])
    assert kwargs["resamples"] == 99 and kwargs["seed"] == 7


def test_bad_format_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(cli, ["build", str(DEMO), "-o", str(tmp_path), "--format", "pdf,docx"])
    assert result.exit_code == 2
    assert "docx" in result.output


def test_validate_demo():
    result = CliRunner().invoke(cli, ["validate", str(DEMO)])
    assert result.exit_code == 0, result.output
    assert "valid" in result.output
    assert "grouping work: 200 groups" in result.output
    assert "nests in publisher" in result.output


def test_invalid_case_exits_2_with_every_problem_and_no_traceback(tmp_path):
    case = tmp_path / "case.yaml"
    case.write_text("matter:\n  title: X\nworks: missing.csv\ngroupngs: {}\nevidence: {runs: nope.csv}\n")
    result = CliRunner().invoke(cli, ["build", str(case), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "case.yaml:2: matter.date: expected a value (required), found nothing" in result.output
    assert "did you mean 'groupings'" in result.output
    assert not (tmp_path / "out").exists()


def test_internal_error_exits_1_with_hint_and_debug_shows_traceback(tmp_path):
    with mock.patch("expert.build.build", side_effect=RuntimeError("boom")):
        result = CliRunner().invoke(cli, ["build", str(DEMO), "-o", str(tmp_path)])
        assert result.exit_code == 1
        assert "internal error: RuntimeError: boom" in result.output
        assert "--debug" in result.output
        debug = CliRunner().invoke(cli, ["build", str(DEMO), "-o", str(tmp_path), "--debug"])
        assert isinstance(debug.exception, RuntimeError)


def test_build_writes_outputs_and_lists_them(tmp_path):
    result = CliRunner().invoke(cli, ["build", str(DEMO), "-o", str(tmp_path), "--format", "csv", "--resamples", "99", "-q"])
    assert result.exit_code == 0, result.output
    assert str(tmp_path / "valuations.csv") in result.output
