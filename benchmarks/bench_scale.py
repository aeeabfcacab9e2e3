"""A big organisation's build: peak RSS and wall time at 2,000 (or 10,000) people, against another commit and DuckDB.

Writes one record per person x model x day (default 2,000 people x 10 models x 90 days = 1.8M records, so
1.8M hourly rows) as gzip JSON lines in Bedrock's S3 layout, then runs, interleaved run by run, each a fresh
process on 2 cores:
- `build --source files` of this checkout,
- the same build of `--baseline` (a git revision, checked out into a temporary worktree),
- DuckDB's `read_json` + GROUP BY of the same files (aggregation only: no prices, no pages; threads=2).
Prints medians, ratios and peak RSS, and the largest data file of the site.

    python benchmarks/bench_scale.py [--people 2000] [--models 10] [--days 90] [--runs 3] [--baseline HEAD~1]
"""

from __future__ import annotations

import gzip
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_build import NOW, timed
from bench_dashboard import org_parser
from bench_dedup import worktree
from bench_duckdb import DUCKDB

ROOT = Path(__file__).resolve().parent.parent
MODELS = [
    "global.anthropic.claude-sonnet-4-5-20250929-v1:0", "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
    "us.anthropic.claude-opus-4-1-20250805-v1:0", "us.anthropic.claude-haiku-4-5-20251001-v1:0",
    "anthropic.claude-3-5-haiku-20241022-v1:0", "us.amazon.nova-pro-v1:0", "amazon.nova-lite-v1:0",
    "meta.llama3-1-70b-instruct-v1:0", "mistral.mistral-large-2407-v1:0", "openai.gpt-oss-120b-1:0",
    "eu.anthropic.claude-3-7-sonnet-20250219-v1:0", "us.anthropic.claude-sonnet-4-20250514-v1:0",
]  # fmt: skip


def _day_file(args: tuple[Path, int, int, int]) -> int:
    """One day's records (every person x model once, at a random hour) in one object of that day's first hour."""
    root, day, people, models = args
    rng = random.Random(day)
    start = NOW - timedelta(days=day + 1)
    lines = []
    for person in range(people):
        arn = f"arn:aws:iam::123456789012:user/engineer-{person:05d}"
        for model in MODELS[:models]:
            stamp = start + timedelta(seconds=rng.randrange(86_400))
            lines.append(json.dumps({
                "schemaType": "ModelInvocationLog", "schemaVersion": "1.0",
                "timestamp": stamp.strftime("%Y-%m-%dT%H:%M:%SZ"), "accountId": "123456789012",
                "identity": {"arn": arn}, "region": "us-east-1", "requestId": f"{rng.getrandbits(128):032x}",
                "operation": "Converse", "modelId": model,
                "input": {"inputContentType": "application/json", "inputTokenCount": rng.randint(10, 5000),
                          "cacheReadInputTokenCount": rng.randint(0, 9000), "cacheWriteInputTokenCount": 0},
                "output": {"outputContentType": "application/json", "outputTokenCount": rng.randint(10, 3000)},
            }))  # fmt: skip
    folder = root / "AWSLogs/123456789012/BedrockModelInvocationLogs/us-east-1" / start.strftime("%Y/%m/%d/%H")
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{start.strftime('%Y%m%dT%H%M%S')}000Z_{day:016x}.json.gz"
    (folder / name).write_bytes(gzip.compress(("\n".join(lines) + "\n").encode(), 1, mtime=0))
    return len(lines)


def cached(root: Path, make: Callable[[Path], int]) -> int:
    """What `make` wrote into `root` (it returns a count), made once: a marker file says the folder is complete."""
    marker = root / ".complete"
    if marker.exists():
        return int(marker.read_text())
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    total = make(root)
    marker.write_text(str(total))
    return total


def generate(root: Path, people: int, models: int, days: int) -> int:
    def make(root: Path) -> int:
        with ProcessPoolExecutor(2) as pool:
            return sum(pool.map(_day_file, [(root, d, people, models) for d in range(days)]))

    return cached(root, make)


def compare(commands: dict[str, list[str]], runs: int, tree: Path | None) -> None:
    """Run each command `runs` times, interleaved run by run (so machine noise hits each alike), then remove the
    baseline's worktree and print each one's median, runs, peak RSS and time against "this checkout"."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    peaks: dict[str, list[int]] = {name: [] for name in commands}
    try:
        for _ in range(runs):
            for name, command in commands.items():
                seconds, peak = timed(command)
                times[name].append(seconds)
                peaks[name].append(peak)
    finally:
        if tree:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False)
    mine = statistics.median(times["this checkout"])
    print(f"{'what':<26} {'median s':>9} {'runs':<24} {'peak RSS MB':>11} {'time vs this':>12}")
    for name in commands:
        median = statistics.median(times[name])
        each = ", ".join(f"{t:.1f}" for t in times[name])
        print(f"{name:<26} {median:>9.1f} {each:<24} {max(peaks[name]):>11} {median / mine:>12.2f}")


def main() -> None:
    parser = org_parser(__doc__)
    parser.add_argument("--baseline", default="", help="a git revision to compare with (default: none)")
    parser.add_argument("--no-duckdb", action="store_true")
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "bedrock-usage-scale")
    args = parser.parse_args()

    logs = args.data / f"{args.people}x{args.models}x{args.days}"
    records = generate(logs, args.people, args.models, min(args.days, 90))
    print(f"data: {records:,} records ({args.people:,} people x {args.models} models x {args.days} days)")
    out = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    build = ["-m", "generator", "build", "--source", "files", "--logs", str(logs), "--now", NOW.isoformat(),
             "--env-file", "/dev/null", "--windows", "1d,7d,30d,90d,mtd,last-month"]  # fmt: skip
    commands: dict[str, list[str]] = {"this checkout": [sys.executable, *build, "--out", str(out / "now")]}
    tree = worktree(args.baseline) if args.baseline else None
    if tree:  # the baseline's package first on the path (`-m` would put this folder before PYTHONPATH)
        code = f"import sys; sys.path.insert(0, {str(tree)!r}); from generator.cli import main; main()"
        commands[f"baseline {args.baseline}"] = [sys.executable, "-c", code, *build[2:], "--out", str(out / "base")]
    if not args.no_duckdb:
        commands["DuckDB aggregate"] = [sys.executable, "-c", DUCKDB, str(logs)]
    compare(commands, args.runs, tree)
    data = [p for p in (out / "now").rglob("*") if p.is_file()]
    biggest = max(data, key=lambda p: p.stat().st_size)
    size = biggest.stat().st_size / 1e6
    manifest = (out / "now/data/manifest.json").stat().st_size / 1e6
    where = biggest.relative_to(out / "now")
    print(f"site: {len(data):,} files, largest {where} {size:.1f} MB, manifest {manifest:.2f} MB")
    shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
