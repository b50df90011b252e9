"""Faults: a build killed with SIGKILL, read-only and missing output folders, a full disk.

The contract (DESIGN.md "Outputs"): outputs appear atomically; a failed build leaves
the previous outputs untouched and no partial files. Outputs are staged in a hidden
``OUT/.expert-staging-*`` folder and renamed into place; a SIGKILL gives the process no
chance to remove that folder, so the tests allow hidden staging folders (and print
what they hold) but nothing else new, and every earlier output byte-identical.

Read-only folders and a full disk use tmpfs mounts (the tests run as root, where
``chmod 0o555`` does not stop writes); where mounting is not permitted they skip.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from expert.cli import cli
from hardening_case import write_small_case

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "cases" / "demo" / "case.yaml"


def snapshot(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under ``folder`` outside hidden (dot) entries, by relative path."""
    result = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts) or not path.is_file():
            continue
        result[str(relative)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return result


def hidden_entries(folder: Path) -> dict[str, list[tuple[str, int]]]:
    """Hidden top-level entries of ``folder`` with the files (and sizes) they hold."""
    found = {}
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            files = [(str(p.relative_to(entry)), p.stat().st_size) for p in sorted(entry.rglob("*")) if p.is_file()] \
                if entry.is_dir() else [(entry.name, entry.stat().st_size)]
            found[entry.name] = files
    return found


def assert_untouched(out: Path, before: dict[str, str]) -> dict:
    after = snapshot(out)
    new = sorted(set(after) - set(before))
    changed = sorted(name for name in before if after.get(name) != before[name])
    assert not new, f"new visible files after a failed build: {new}"
    assert not changed, f"earlier outputs changed or removed: {changed}"
    hidden = hidden_entries(out)
    assert all(name.startswith(".expert-staging-") for name in hidden), f"unexpected hidden entries: {list(hidden)}"
    return hidden


# ----------------------------------------------------------------------------- SIGKILL


@pytest.fixture(scope="module")
def previous_demo_build(tmp_path_factory) -> Path:
    """A complete build of the demo case (every format), made once and copied for each kill."""
    exe = Path(os.sys.executable).with_name("expert")
    if not exe.exists():
        pytest.skip("no `expert` script beside the interpreter")
    out = tmp_path_factory.mktemp("previous") / "out"
    process = subprocess.run([str(exe), "build", str(DEMO), "-o", str(out), "--resamples", "99", "-q"],
                             capture_output=True, text=True, timeout=600)
    assert process.returncode == 0, process.stderr
    assert (out / "report.pdf").exists() and (out / "valuations.csv").exists() and list((out / "figures").glob("*.svg"))
    return out


KILL_POINTS = [0.5, 2.0, 5.0, "crossed bootstrap", "rendering PDF", "writing"]


@pytest.mark.parametrize("kill_at", KILL_POINTS, ids=[f"after-{p}s" if isinstance(p, float) else f"at-{p.replace(' ', '-')}"
                                                      for p in KILL_POINTS])
def test_sigkill_leaves_earlier_outputs_byte_identical(kill_at, previous_demo_build, tmp_path, expert_exe):
    out = tmp_path / "out"
    shutil.copytree(previous_demo_build, out)
    before = snapshot(out)
    process = subprocess.Popen([expert_exe, "build", str(DEMO), "-o", str(out), "--resamples", "2000"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seen: list[str] = []
    reached = threading.Event()

    def watch():
        for progress in process.stderr:
            seen.append(progress.rstrip())
            if isinstance(kill_at, str) and kill_at in progress:
                process.send_signal(signal.SIGKILL)  # at once, from the reading thread
                reached.set()
        reached.set()

    reader = threading.Thread(target=watch, daemon=True)
    reader.start()
    if isinstance(kill_at, float):
        time.sleep(kill_at)
        process.send_signal(signal.SIGKILL)
    else:
        assert reached.wait(300), f"never reached {kill_at!r}: {seen}"
    process.wait(timeout=60)
    reader.join(timeout=10)
    assert process.returncode == -signal.SIGKILL, f"the build ended before the kill ({process.returncode}): {seen}"
    hidden = assert_untouched(out, before)
    print(f"killed at {kill_at!r} after {seen[-1:] or ['(no progress yet)']}; hidden leftovers: {hidden}")


def test_a_build_after_a_killed_one_succeeds(previous_demo_build, tmp_path, expert_exe):
    """A stale staging folder from a killed build does not stop the next build."""
    out = tmp_path / "out"
    shutil.copytree(previous_demo_build, out)
    stale = out / ".expert-staging-killed"
    stale.mkdir()
    (stale / "valuations.csv").write_bytes(b"grouping,gro")  # a partial file left by a SIGKILL
    process = subprocess.run([expert_exe, "build", str(DEMO), "-o", str(out), "--resamples", "99", "--format",
                              "csv,json", "-q"], capture_output=True, text=True, timeout=600)
    assert process.returncode == 0, process.stderr
    assert (out / "valuations.csv").read_bytes() == (previous_demo_build / "valuations.csv").read_bytes()


@pytest.mark.parametrize("failure", ["crash", "oserror"])
def test_a_failure_between_renames_leaves_old_or_new_outputs_not_a_mix(failure, small_case, tmp_path, monkeypatch):
    out = tmp_path / "out"
    args = ["build", str(small_case), "-o", str(out), "--format", "csv,json", "-q"]
    assert CliRunner().invoke(cli, args + ["--seed", "2"]).exit_code == 0
    new = snapshot(out)  # what the interrupted build would write
    assert CliRunner().invoke(cli, args + ["--seed", "1"]).exit_code == 0
    old = snapshot(out)
    assert old["valuations.csv"] != new["valuations.csv"] and old["analysis.json"] != new["analysis.json"]

    import expert.build

    real_replace = os.replace
    calls = []

    def replace(source, target):
        calls.append(target)
        if len(calls) == 2:  # after the first output was moved into place
            if failure == "crash":
                raise KeyboardInterrupt("simulated kill between two renames")
            raise OSError(5, "Input/output error")
        return real_replace(source, target)

    monkeypatch.setattr(expert.build.os, "replace", replace)
    CliRunner().invoke(cli, args + ["--seed", "2"])
    after = snapshot(out)
    assert after == old or after == new, "a mix of earlier and new outputs"


# ----------------------------------------------------------------------------- read-only, missing and odd output folders


@contextlib.contextmanager
def tmpfs(path: Path, size: str):
    """Mount a tmpfs of ``size`` at ``path`` (skip the test when mounting is not permitted)."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip() or mounted.returncode}); "
                    "the read-only and full-disk checks need one")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def build_small(case: Path, out: Path, *extra: str):
    return CliRunner().invoke(cli, ["build", str(case), "-o", str(out), "--format", "csv,json", "-q", *extra])


def test_read_only_output_folder_by_permissions(small_case, tmp_path):
    if os.geteuid() == 0:
        pytest.skip("running as root: chmod 0o555 does not stop root from writing (the read-only mount test covers it)")
    out = tmp_path / "out"
    assert build_small(small_case, out).exit_code == 0
    before = snapshot(out)
    out.chmod(0o555)
    try:
        result = build_small(small_case, out, "--seed", "2")
    finally:
        out.chmod(0o755)
    assert result.exit_code == 2, result.output
    assert str(out) in result.output and "writable" in result.output
    assert snapshot(out) == before


def test_read_only_mount(small_case, tmp_path):
    mount = tmp_path / "mnt"
    with tmpfs(mount, "1m"):
        out = mount / "out"
        assert build_small(small_case, out).exit_code == 0
        before = snapshot(out)
        remount = subprocess.run(["mount", "-o", "remount,ro", str(mount)], capture_output=True, text=True)
        if remount.returncode != 0:
            pytest.skip(f"cannot remount read-only: {remount.stderr.strip()}")
        result = build_small(small_case, out, "--seed", "2")
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.output
        assert str(out) in result.output and "-o" in result.output and "Read-only file system" in result.output
        assert snapshot(out) == before and not hidden_entries(out)
        # a new folder on the read-only file system cannot be created either
        result = build_small(small_case, mount / "new")
        assert result.exit_code == 2, result.output
        assert str(mount / "new") in result.output and "Read-only file system" in result.output


def test_missing_parent_folders_are_created(small_case, tmp_path):
    out = tmp_path / "a" / "b" / "c" / "out"
    result = build_small(small_case, out)
    assert result.exit_code == 0, result.output
    assert (out / "valuations.csv").exists()


def test_parent_that_is_a_file_is_a_clear_error(small_case, tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    out = blocker / "out"
    result = build_small(small_case, out)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert str(out) in result.output and "-o" in result.output and "Not a directory" in result.output
    assert blocker.read_text() == "not a folder"


def test_output_path_that_is_a_file_is_a_clear_error(small_case, tmp_path):
    out = tmp_path / "out.txt"
    out.write_text("keep me")
    result = build_small(small_case, out)
    assert result.exit_code == 2, result.output
    assert str(out) in result.output and "file" in result.output
    assert out.read_text() == "keep me"


def test_full_disk(small_case, tmp_path):
    """A disk with room for one set of outputs but not for a second staged copy."""
    mount = tmp_path / "mnt"
    with tmpfs(mount, "48k"):
        out = mount / "out"
        first = build_small(small_case, out)
        if first.exit_code != 0:
            pytest.skip(f"the 48k tmpfs cannot hold even one build: {first.output.strip()}")
        before = snapshot(out)
        result = build_small(small_case, out, "--seed", "2")
        assert result.exit_code == 1, result.output  # not invalid input: the environment failed (exit 1, no traceback)
        assert "Traceback" not in result.output
        assert str(out) in result.output and "No space left on device" in result.output
        assert snapshot(out) == before, "earlier outputs untouched"
        assert not hidden_entries(out), "the staging folder is removed after a failed write"
        # and after freeing space the build works again
        (out / "analysis.json").unlink()
        assert build_small(small_case, out, "--seed", "2").exit_code == 0
