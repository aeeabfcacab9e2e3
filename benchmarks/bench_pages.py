"""Page weight and time-to-charts in headless Chromium, for the demo and a 500-person x 40-model site.

For every page: bytes transferred (HTML plus every asset it loads) raw and gzipped, and the
milliseconds from navigation start until every chart has drawn (median of --runs loads).

    python benchmarks/bench_pages.py [--runs 5] [--chromium /usr/bin/chromium]
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from generator.build import build
from generator.config import load_settings
from generator.pricing import load_book
from generator.serve import make_server

NOW = "2026-11-27T07:30:00Z"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
PREFIX = {"in-region": "", "geo": "us.", "global": "global."}


def large_logs(folder: Path, people: int = 500, models: int = 40, days: int = 90) -> int:
    """Write one record per person x used model x day (each person uses 4 of the 40 models)."""
    book = load_book()
    ids = []
    for p in book.prices:
        if p.effective_from.year < 2026 and (logged := PREFIX[p.route] + p.model) not in ids:
            ids.append(logged)
    ids = ids[:models]
    rng = random.Random(7)
    end = datetime(2026, 11, 27, 7, tzinfo=UTC)
    folder.mkdir(parents=True, exist_ok=True)
    count = 0
    with (folder / "large.jsonl").open("w") as fh:
        for person in range(people):
            used = rng.sample(ids, 4)
            for day in range(days):
                for model in used:
                    stamp = end - timedelta(days=day, hours=rng.randint(1, 20))
                    fh.write(json.dumps({
                        "timestamp": stamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "identity": {"arn": f"arn:aws:iam::123456789012:user/person-{person:03d}"},
                        "modelId": model,
                        "input": {"inputTokenCount": rng.randint(100, 90000)},
                        "output": {"outputTokenCount": rng.randint(10, 9000)},
                    }) + "\n")  # fmt: skip
                    count += 1
    return count


def measure(site: Path, runs: int, chromium: str) -> None:
    server = make_server(site, 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    pages = ["index.html", "usage-90d.html", "matrix-90d.html", "pricing.html"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=ARGS)
        print(f"  {'page':<18}{'raw KB':>10}{'gzip KB':>10}{'charts ms (median)':>22}")
        for name in pages:
            timings, raw, packed = [], 0, 0
            for run in range(runs):
                context = browser.new_context()  # cold cache each run
                page = context.new_page()
                responses: list[Any] = []
                page.on("response", lambda r, found=responses: found.append(r))
                page.goto(f"{base}/{name}")
                page.wait_for_function("document.documentElement.dataset.chartsDrawn !== undefined")
                timings.append(float(page.evaluate("document.documentElement.dataset.chartsMs")))
                if run == 0:
                    bodies = [r.body() for r in responses]
                    raw = sum(len(b) for b in bodies)
                    packed = sum(len(gzip.compress(b, 6)) for b in bodies)
                context.close()
            shown = f"{statistics.median(timings):.0f}" if name.startswith(("index", "usage")) else "-"
            print(f"  {name:<18}{raw / 1024:>10.0f}{packed / 1024:>10.0f}{shown:>22}")
        browser.close()
    server.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build(load_settings({"out": root / "demo", "now": NOW, "source": "demo"}, environ={}, env_file=None))
        print("demo site (targets: every page under 300 KB gzipped, Chart.js included)")
        measure(root / "demo", args.runs, args.chromium)
        start = time.perf_counter()
        records = large_logs(root / "logs")
        build(load_settings({"out": root / "large", "now": NOW, "logs": (root / "logs",)}, environ={}, env_file=None))
        took = time.perf_counter() - start
        print(f"large site: 500 people x 40 models x 90 days, {records:,} records, built in {took:.1f} s")
        print("(targets: overview under 1.5 MB gzipped, charts drawn under 1500 ms)")
        measure(root / "large", args.runs, args.chromium)


if __name__ == "__main__":
    main()
