"""One exception hierarchy for every problem a user can cause or meet.

Only :mod:`expert.cli` turns these into messages and exit codes: invalid input
(:class:`CaseError`, :class:`EvidenceError`) exits 2, everything else 1.
"""

from __future__ import annotations

__all__ = ["ExpertError", "InputError", "CaseError", "EvidenceError", "AnalysisError", "ReportError"]


class ExpertError(Exception):
    """Base class of every error ``expert`` raises on purpose.

    Parameters
    ----------
    problems : str or list of str
        One message per problem, each already naming file, line or row, field,
        what was expected and what was found.
    """

    exit_code = 1

    def __init__(self, problems: str | list[str]):
        if isinstance(problems, str):
            problems = [problems]
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class InputError(ExpertError):
    """Invalid input: a case file, run table or command-line value (exit code 2)."""

    exit_code = 2


class CaseError(InputError):
    """The case file, or a file it names, is invalid."""


class EvidenceError(InputError):
    """The run table is invalid or inconsistent with the case."""


class AnalysisError(ExpertError):
    """The analysis could not be carried out (an internal or numerical failure)."""


class ReportError(ExpertError):
    """The report could not be rendered or written."""
