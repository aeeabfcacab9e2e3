"""Build speed and memory on 1,000,000 Bedrock records, against `gzip -dc` of the same files.

Generates records over 90 days in Bedrock's S3 json.gz layout, with realistic 1-2 KB request and
response bodies, then times `bedrock-usage build --source files` (median of --runs) next to
`gzip -dc` of the same files, and the peak RSS of builds over a quarter, half and all of the data.

    python benchmarks/bench_build.py [--records 1000000] [--runs 3] [--data /tmp/bench-logs]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

NOW = datetime(2026, 11, 27, 7, tzinfo=UTC)
HOURS = 90 * 24
FILES_PER_HOUR = 4
PEOPLE = [f"arn:aws:iam::123456789012:user/engineer-{i:02d}" for i in range(40)] + [
    f"arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Dev_0123456789abcdef/dev{i}@example.com" for i in range(10)
]
MODELS = [
    "global.anthropic.claude-sonnet-4-5-20250929-v1:0", "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
    "us.anthropic.claude-opus-4-1-20250805-v1:0", "us.anthropic.claude-haiku-4-5-20251001-v1:0",
    "anthropic.claude-3-5-haiku-20241022-v1:0", "us.amazon.nova-pro-v1:0", "amazon.nova-lite-v1:0",
    "meta.llama3-1-70b-instruct-v1:0", "mistral.mistral-large-2407-v1:0", "openai.gpt-oss-120b-1:0",
    "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-20250514-v1:0",
    "eu.anthropic.claude-3-7-sonnet-20250219-v1:0",
]  # fmt: skip
WORDS = [
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "that",
    "for",
    "it",
    "as",
    "with",
    "was",
    "on",
    "be",
    "by",
    "this",
    "are",
    "or",
    "from",
    "at",
    "which",
    "an",
    "have",
    "not",
]


def _hour_files(args: tuple[Path, int, int, int]) -> int:
    root, hour_index, per_hour, seed = args
    rng = random.Random(seed * 100_003 + hour_index)
    hour = NOW - timedelta(hours=HOURS - hour_index)
    folder = root / "AWSLogs/123456789012/BedrockModelInvocationLogs/us-east-1" / hour.strftime("%Y/%m/%d/%H")
    folder.mkdir(parents=True, exist_ok=True)
    per_file = per_hour // FILES_PER_HOUR
    for f in range(FILES_PER_HOUR):
        lines = []
        for _ in range(per_file + (per_hour % FILES_PER_HOUR if f == 0 else 0)):
            person = rng.randrange(len(PEOPLE))
            model = MODELS[(person + rng.randrange(3)) % len(MODELS)]  # each person uses 3 models
            stamp = hour + timedelta(seconds=rng.randrange(3600))
            text = " ".join(rng.choices(WORDS, k=rng.randint(90, 200)))
            record = {
                "schemaType": "ModelInvocationLog", "schemaVersion": "1.0",
                "timestamp": stamp.strftime("%Y-%m-%dT%H:%M:%SZ"), "accountId": "123456789012",
                "identity": {"arn": PEOPLE[person]}, "region": "us-east-1",
                "requestId": f"{rng.getrandbits(128):032x}", "operation": "ConverseStream", "modelId": model,
                "input": {"inputContentType": "application/json",
                          "inputBodyJson": {"messages": [{"role": "user", "content": [{"text": text}]}],
                                            "inferenceConfig": {"maxTokens": 4096, "temperature": 0.2}},
                          "inputTokenCount": rng.randint(10, 5000),
                          "cacheReadInputTokenCount": rng.randint(0, 90000),
                          "cacheWriteInputTokenCount": rng.randint(0, 4000)},
                "output": {"outputContentType": "application/json",
                           "outputBodyJson": {"output": {"message": {"role": "assistant",
                                              "content": [{"text": text[: len(text) // 2]}]}},
                                              "stopReason": "end_turn",
                                              "usage": {"inputTokens": 12, "outputTokens": 34}},
                           "outputTokenCount": rng.randint(10, 3000)},
                "inferenceRegion": "us-east-2",
            }  # fmt: skip
            lines.append(json.dumps(record))
        name = f"{hour.strftime('%Y%m%dT%H%M%S')}{f:03d}Z_{rng.getrandbits(64):016x}.json.gz"
        (folder / name).write_bytes(gzip.compress(("\n".join(lines) + "\n").encode(), 6, mtime=0))
    return per_hour


def generate(root: Path, records: int) -> None:
    """Write `records` records spread evenly over 90 days (skipped when already there)."""
    marker = root / f".complete-{records}"
    if marker.exists():
        return
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    per_hour = max(1, records // HOURS)
    with ProcessPoolExecutor() as pool:
        total = sum(pool.map(_hour_files, [(root, h, per_hour, 1) for h in range(HOURS)], chunksize=20))
    marker.write_text(str(total))


def timed(command: list[str]) -> tuple[float, int]:
    """Run a command; return wall seconds and its peak memory in MiB: the most its whole process tree (it and its
    worker processes) held at once, or its own peak resident set when that is more (a single process's ru_maxrss
    alone would miss the workers that run beside it). Sampled every 20 ms as its resident set while it is one
    process, and every 100 ms as the tree's proportional set sizes while it has workers (a page a worker shares with
    its parent counts once; reading them costs milliseconds, so less often)."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    tree = 0
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        found, alone = _tree(proc.pid)
        tree = max(tree, found)
        time.sleep(0.02 if alone else 0.1)
    elapsed = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"failed: {' '.join(command)}")
    return elapsed, max(tree, usage.ru_maxrss << 10) >> 20  # ru_maxrss: KiB, its own peak (or a worker's)


def _tree(pid: int) -> tuple[int, bool]:
    """The memory (bytes) `pid` and every process under it hold now, and whether it is alone."""
    pids = _descendants(pid)
    if len(pids) == 1:
        try:
            return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE"), True
        except (OSError, IndexError):
            return 0, True  # it ended while we looked
    total = 0
    for each in pids:
        try:
            rollup = Path(f"/proc/{each}/smaps_rollup").read_text()
        except OSError:
            continue
        total += next((int(line.split()[1]) << 10 for line in rollup.splitlines() if line.startswith("Pss:")), 0)
    return total, False


def _descendants(pid: int) -> list[int]:
    """`pid` and every process under it (from each thread's children list: no walk of all of /proc)."""
    try:
        children = [int(c) for t in Path(f"/proc/{pid}/task").iterdir() for c in (t / "children").read_text().split()]
    except (OSError, ValueError):
        return [pid]
    return [pid, *(d for child in children for d in _descendants(child))]


def gunzip_all(root: Path) -> list[str]:
    files = sorted(str(p) for p in root.rglob("*.json.gz"))
    script = "xargs -0 gzip -dc > /dev/null"
    return ["sh", "-c", f"printf '%s\\0' {' '.join(files)} | {script}"] if len(files) < 2000 else [
        "sh", "-c", f"find {root} -name '*.json.gz' -print0 | sort -z | {script}"
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--also", type=int, nargs="*", default=[], help="more record counts for the RSS curve")
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "bedrock-usage-bench")
    args = parser.parse_args()

    sizes = sorted({args.records // 4, args.records // 2, *args.also, args.records})
    for n in sizes:
        start = time.perf_counter()
        generate(args.data / str(n), n)
        print(f"data: {n:,} records ready in {time.perf_counter() - start:.1f} s", flush=True)
    full = args.data / str(args.records)
    compressed = sum(p.stat().st_size for p in full.rglob("*.json.gz"))
    print(f"data: {compressed / 1e6:,.0f} MB compressed in {sum(1 for _ in full.rglob('*.json.gz')):,} files")

    out = Path(tempfile.mkdtemp(prefix="bench-site-"))
    build = [sys.executable, "-m", "generator", "build", "--source", "files", "--now", NOW.isoformat(),
             "--env-file", "/dev/null", "--out", str(out / "site")]  # fmt: skip
    gz_times, build_times, rss = [], [], []
    for _ in range(args.runs):  # interleaved, so machine noise hits both alike
        gz_times.append(timed(gunzip_all(full))[0])
        seconds, peak = timed([*build, "--logs", str(full)])
        build_times.append(seconds)
        rss.append(peak)
    gz, bt = statistics.median(gz_times), statistics.median(build_times)
    print(f"gzip -dc:  median {gz:.2f} s  (runs: {', '.join(f'{t:.2f}' for t in gz_times)})")
    print(f"build:     median {bt:.2f} s  (runs: {', '.join(f'{t:.2f}' for t in build_times)})")
    print(f"records/s: {args.records / bt:,.0f}")
    print(f"ratio build / gzip -dc: {bt / gz:.2f}  (target <= 2.0)")
    print(f"peak RSS at {args.records:,}: {max(rss)} MB  (target < 500 MB)")
    for n in (n for n in sizes if n != args.records):
        _, peak = timed([*build, "--logs", str(args.data / str(n))])
        print(f"peak RSS at {n:,}: {peak} MB")
    shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
