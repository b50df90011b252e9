"""Same inputs, same bytes: two builds of the demo case in separate processes with different
time zones, locales, hash seeds and BLAS/OpenMP thread counts write byte-identical outputs.

Both builds go to the same output folder (so the recorded command line is the same):
build, copy the bytes away, build again, compare every file.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "cases" / "demo" / "case.yaml"


def available_locales() -> list[str]:
    try:
        listed = subprocess.run(["locale", "-a"], capture_output=True, text=True, timeout=10).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return []
    return listed


def second_locale() -> str:
    """A locale unlike C.UTF-8: one with a comma decimal separator when installed, else plain C."""
    for name in available_locales():
        if name.lower().startswith(("de_de", "fr_fr", "ru_ru")) and "utf" in name.lower():
            return name
    return "C"


THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def environment(tz: str, locale_name: str, hash_seed: str, threads: str) -> dict:
    env = {key: value for key, value in os.environ.items() if key not in THREAD_VARIABLES + ("LC_ALL", "LANG", "TZ")}
    env.update({"TZ": tz, "LC_ALL": locale_name, "LANG": locale_name, "PYTHONHASHSEED": hash_seed})
    env.update({key: threads for key in THREAD_VARIABLES})
    return env


def read_all(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*"))
            if path.is_file() and not any(part.startswith(".") for part in path.relative_to(folder).parts)}


@pytest.mark.parametrize("formats", ["pdf,html,csv,json"])
def test_outputs_are_byte_identical_across_environments(formats, tmp_path, expert_exe):
    out = tmp_path / "out"
    command = [expert_exe, "build", str(DEMO), "-o", str(out), "--resamples", "299", "--format", formats, "-q"]
    first_env = environment("UTC", "C.UTF-8", "0", "1")
    second_env = environment("Pacific/Kiritimati", second_locale(), "4242", "2")  # UTC+14: another calendar day

    first = subprocess.run(command, capture_output=True, text=True, timeout=900, env=first_env)
    assert first.returncode == 0, first.stderr
    first_bytes = read_all(out)
    second = subprocess.run(command, capture_output=True, text=True, timeout=900, env=second_env)
    assert second.returncode == 0, second.stderr
    second_bytes = read_all(out)

    expected = {"report.pdf", "report.html", "valuations.csv", "analysis.json"}
    assert expected <= set(first_bytes), sorted(first_bytes)
    assert any(name.startswith("figures/") and name.endswith(".svg") for name in first_bytes)
    assert set(first_bytes) == set(second_bytes)
    different = [name for name in first_bytes if first_bytes[name] != second_bytes[name]]
    details = []
    for name in different:
        a, b = first_bytes[name], second_bytes[name]
        at = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        details.append(f"{name}: {len(a)} vs {len(b)} bytes, first difference at byte {at}: "
                       f"{a[max(0, at - 40):at + 40]!r} vs {b[max(0, at - 40):at + 40]!r}")
    assert not different, "outputs differ between environments:\n" + "\n".join(details)
