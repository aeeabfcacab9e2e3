"""Publishing the demo site to a local moto S3 server: our publisher next to `aws s3 sync`.

Counts every request the server receives, by method, and times a first publish and a no-change
re-publish for both tools, in one run (median of --runs). awscli is installed from PyPI into its
own virtual environment (its botocore pin would clash with ours).

    python benchmarks/bench_publish.py [--runs 5]
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import boto3
from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server

from generator import publish
from generator.build import build
from generator.config import load_settings

REQUESTS: Counter[str] = Counter()


def start_server() -> str:
    app = DomainDispatcherApplication(create_backend_app)

    def counting(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        REQUESTS[environ["REQUEST_METHOD"]] += 1
        return app(environ, start_response)

    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = make_server("127.0.0.1", port, counting, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{port}"


def awscli() -> Path:
    venv = Path(tempfile.gettempdir()) / "bedrock-usage-awscli"
    aws = venv / "bin" / "aws"
    if not aws.exists():
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run([venv / "bin/pip", "install", "-q", "awscli"], check=True)
    return aws


def measure(action: Callable[[], None]) -> tuple[float, Counter[str]]:
    REQUESTS.clear()
    start = time.perf_counter()
    action()
    return time.perf_counter() - start, Counter(REQUESTS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    endpoint = start_server()
    aws = awscli()
    s3 = boto3.client("s3", endpoint_url=endpoint)
    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp) / "site"
        build(load_settings({"out": site, "now": "2026-11-27T07:30:00Z", "source": "demo"}, environ={}, env_file=None))
        local = publish.read_site(site)
        size = sum(len(f.data) for f in local.values())
        print(f"demo site: {len(local)} files, {size / 1024:.0f} KB")

        def ours(bucket: str) -> Callable[[], None]:
            def run() -> None:
                remote = publish.Remote(s3, bucket)
                the_plan = publish.plan(local, remote.list(local), remote.published())
                publish.apply(the_plan, local, remote)

            return run

        def theirs(bucket: str) -> Callable[[], None]:
            command = [
                str(aws),
                "s3",
                "sync",
                str(site),
                f"s3://{bucket}",
                "--endpoint-url",
                endpoint,
                "--only-show-errors",
            ]
            return lambda: subprocess.run(command, check=True)

        results: dict[str, list[tuple[float, Counter[str]]]] = {}
        for _ in range(args.runs):  # interleaved so noise hits both alike
            for name, tool in (("bedrock-usage", ours), ("aws s3 sync", theirs)):
                bucket = f"bench-{uuid.uuid4().hex[:10]}"
                s3.create_bucket(Bucket=bucket)
                results.setdefault(f"{name} first", []).append(measure(tool(bucket)))
                results.setdefault(f"{name} again", []).append(measure(tool(bucket)))
        print(f"  {'':<22}{'median s':>10}{'requests':>10}{'PUTs':>6}  (by method)")
        for label, runs in results.items():
            seconds = statistics.median(r[0] for r in runs)
            counts = runs[-1][1]
            by_method = ", ".join(f"{m} {n}" for m, n in sorted(counts.items()))
            print(f"  {label:<22}{seconds:>10.3f}{sum(counts.values()):>10}{counts['PUT']:>6}  ({by_method})")
        ours_first = statistics.median(r[0] for r in results["bedrock-usage first"])
        theirs_first = statistics.median(r[0] for r in results["aws s3 sync first"])
        startup = statistics.median(measure(lambda: subprocess.run([str(aws), "--version"], capture_output=True))[0]
                                    for _ in range(args.runs))  # fmt: skip
        print(f"first publish time, ours / aws s3 sync: {ours_first / theirs_first:.2f} (target <= 1.0)")
        print(f"  without awscli's {startup:.2f} s start-up: {ours_first / max(theirs_first - startup, 1e-9):.2f}")


if __name__ == "__main__":
    main()
