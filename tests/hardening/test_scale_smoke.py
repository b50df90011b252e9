"""bench/bench_scale.py at a tiny size: the generator writes a valid case and the build it times succeeds.

The full size (15 million rows) is never run inside pytest: `python bench/bench_scale.py`.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_scale", ROOT / "bench" / "bench_scale.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_scale", module)
    spec.loader.exec_module(module)
    return module


def test_bench_scale_runs_at_a_tiny_size(tmp_path, capsys):
    bench = load_bench()
    summary = bench.main(["--works", "2000", "--configs", "40", "--items", "30", "--seeds", "2", "--resamples", "99",
                          "--skip-pdf", "--keep", str(tmp_path / "case")])
    data = summary["data"]
    assert data["rows"] == 40 * 2 * 3 * 30 and data["configurations"] == 40
    build = summary["build_csv_json"]
    assert build["exit_code"] == 0, build
    assert set(build["files"]) == {"valuations.csv", "analysis.json"}
    assert build["under_limit"] and build["peak_rss_gb"] > 0
    steps = [step["step"] for step in build["steps"]]
    assert any(step.startswith("reading run table") for step in steps) and any("crossed bootstrap" in s for s in steps)
    assert '"build_csv_json"' in capsys.readouterr().out  # the JSON summary is printed
