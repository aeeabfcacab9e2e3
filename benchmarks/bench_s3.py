"""Reading S3-delivered logs in place: a first run, an unchanged second run, and a run after one new day.

Serves bench_build's generated data from moto's S3 server in its own process on localhost (so the figures
include a real HTTP round trip per object, and moto's own speed too: it answers one request at a time),
then times `read_s3` cold (empty store), warm (nothing changed: lists only), and after a day of new
objects, next to the files source reading the same files from disk.

    python benchmarks/bench_s3.py [--records 300000] [--days 90]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench_build import NOW, generate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=300_000)
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "bedrock-usage-bench")
    args = parser.parse_args()
    import socket
    import subprocess

    import boto3

    from generator.sources.files import read_files
    from generator.sources.s3logs import S3Options, read_s3

    data = args.data / str(args.records)
    generate(data, args.records)
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    host, port = probe.getsockname()
    probe.close()
    # moto in its own process: in this one its HTTP server would share our interpreter lock
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", host, "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    for _ in range(100):
        try:
            socket.create_connection((host, port), timeout=0.1).close()
            break
        except OSError:
            time.sleep(0.1)
    os.environ.update({"AWS_ENDPOINT_URL": f"http://{host}:{port}", "AWS_ACCESS_KEY_ID": "x",
                       "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1"})  # fmt: skip
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="bench")
    files = sorted(data.rglob("*.json.gz"))
    last_day = [p for p in files if NOW - timedelta(days=1) <= _hour(p)]
    start = time.perf_counter()
    for path in files:
        if path not in last_day:
            s3.put_object(Bucket="bench", Key=f"logs/{path.relative_to(data)}", Body=path.read_bytes())
    print(f"uploaded {len(files) - len(last_day):,} objects to moto in {time.perf_counter() - start:.1f} s")

    state = tempfile.mkdtemp(prefix="bench-s3-state-")
    options = S3Options(("s3://bench/logs",), state)
    window = NOW - timedelta(days=90)
    for label in ("cold (empty store)", "warm (nothing changed)"):
        start, cpu = time.perf_counter(), _cpu()
        result = read_s3(options, window, NOW - timedelta(days=1))
        q = result.queries
        print(f"S3 {label:<24} {time.perf_counter() - start:6.2f} s wall, {_cpu() - cpu:5.2f} s CPU in the reader  "
              f"{q['objects_read']:>6,} objects {q['bytes_read'] / 1e6:7.1f} MB read  {q['list_requests']:,} list "
              f"requests  {result.records:,} records")  # fmt: skip
    for path in last_day:
        s3.put_object(Bucket="bench", Key=f"logs/{path.relative_to(data)}", Body=path.read_bytes())
    start = time.perf_counter()
    result = read_s3(options, window + timedelta(days=1), NOW)
    q = result.queries
    print(f"S3 {'next day':<24} {time.perf_counter() - start:6.2f} s  {q['objects_read']:>6,} objects "
          f"{q['bytes_read'] / 1e6:7.1f} MB read  ({len(last_day):,} objects were new)")  # fmt: skip
    start = time.perf_counter()
    local = read_files([data], workers=2)
    print(
        f"files source (same data, local disk, 2 processes)  {time.perf_counter() - start:6.2f} s  "
        f"{local.records:,} records"
    )
    print(f"peak RSS of the reader (not moto): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB")
    server.terminate()


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _hour(path: Path) -> object:
    from datetime import UTC, datetime

    parts = path.parts
    at = parts.index("BedrockModelInvocationLogs") + 2
    y, m, d, h = (int(p) for p in parts[at : at + 4])
    return datetime(y, m, d, h, tzinfo=UTC)


if __name__ == "__main__":
    main()
