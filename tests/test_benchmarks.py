"""The scale benchmarks run end to end at a toy size (a smoke test: their figures are not checked, only that each
build they time succeeds and they print their table)."""

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.mark.parametrize(
    ("script", "extra"),
    [
        ("bench_scale.py", ["--no-duckdb"]),
        ("bench_stored.py", []),
        ("bench_stored.py", ["--source", "s3"]),
        ("bench_stored.py", ["--first-run"]),
    ],
)
def test_a_scale_benchmark_runs_at_a_toy_size(tmp_path: Path, script: str, extra: list[str]) -> None:
    toy = ["--people", "3", "--models", "2", "--days", "2", "--runs", "1", "--data", str(tmp_path)]
    command = [sys.executable, str(BENCHMARKS / script), *toy, *extra]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "this checkout" in done.stdout
