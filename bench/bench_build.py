"""Benchmark: `expert build` of the demo case, end to end, in a fresh process.

Reports wall time and peak memory (max RSS of the child process) for all formats and for
csv/json alone, and the per-step times `build()` records.

Run: python bench/bench_build.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASE = ROOT / "cases" / "demo" / "case.yaml"

STEPS = """
import json, resource, sys
from expert.build import build
result = build(sys.argv[1], sys.argv[2], sys.argv[3].split(","))
steps = {k: round(v, 2) for k, v in result.seconds.items()}
print(json.dumps({"steps": steps, "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))
"""


def run(formats: str) -> dict:
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        completed = subprocess.run([sys.executable, "-c", STEPS, str(CASE), out, formats], capture_output=True,
                                   text=True, check=True)
        wall = time.perf_counter() - start
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    return {"formats": formats, "wall_seconds (incl. imports)": round(wall, 2), "peak_rss_mb": report["peak_rss_mb"],
            "steps_seconds": report["steps"]}


def main():
    results = [run("pdf,html,csv,json"), run("csv,json")]
    json.dump(results, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
