"""Fixtures of the hardening tests (the case itself is in hardening_case.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from hardening_case import write_small_case


@pytest.fixture
def small_case(tmp_path) -> Path:
    """The path of a valid small case (case.yaml) in ``tmp_path / 'case'``."""
    return write_small_case(tmp_path / "case")


@pytest.fixture(scope="session")
def expert_exe() -> str:
    """The ``expert`` console script installed beside the running interpreter."""
    exe = Path(sys.executable).with_name("expert")
    if not exe.exists():
        pytest.skip(f"no `expert` script beside {sys.executable}")
    return str(exe)
