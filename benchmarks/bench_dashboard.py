"""The site at 2,000 people x 10 models x 90 days: file sizes, page weights and time to charts.

Builds from synthetic hourly rows (every person uses 10 models every day, so the per-day detail is at its
largest: 1.8M person x model x day cells), then reports the largest data file (bound: 10 MB, the most
CloudFront compresses), each overview page gzipped (bound: 1.5 MB) and the time until Chromium has drawn
its charts (bound: 1.5 s), the median of --runs loads.

    python benchmarks/bench_dashboard.py [--people 2000] [--models 10] [--days 90] [--runs 3]
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

NOW = datetime(2026, 11, 27, 7, 30, tzinfo=UTC)
MODELS = ["global.anthropic.claude-sonnet-4-5-20250929-v1:0", "us.anthropic.claude-opus-4-1-20250805-v1:0",
          "us.anthropic.claude-haiku-4-5-20251001-v1:0", "us.amazon.nova-pro-v1:0", "amazon.nova-lite-v1:0",
          "meta.llama3-1-70b-instruct-v1:0", "mistral.mistral-large-2407-v1:0", "openai.gpt-oss-120b-1:0",
          "us.anthropic.claude-sonnet-4-20250514-v1:0", "anthropic.claude-3-5-haiku-20241022-v1:0",
          "us.meta.llama4-maverick-17b-instruct-v1:0", "global.anthropic.claude-opus-4-7"]  # fmt: skip


def rows(people: int, models: int, days: int) -> list[Any]:
    from generator.usage import row_of

    start = int((NOW.replace(minute=0) - timedelta(days=days)).timestamp())
    out = []
    for p in range(people):
        principal = f"arn:aws:iam::123456789012:user/team-{p % 40:02d}/engineer-{p:05d}"
        for d in range(days):
            hour = start + d * 86400 + (p % 24) * 3600
            for m in range(models):
                n = 1 + (p + d + m) % 7
                out.append(row_of(hour, principal, MODELS[m], (n, n // 7, 900 * n, 300 * n, 4000 * n, 200 * n)))
    return out


def org_parser(doc: str | None) -> argparse.ArgumentParser:
    """The benchmark organisation's size: --people x --models x --days, and --runs."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--models", type=int, default=10)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--runs", type=int, default=3)
    return parser


def main() -> None:
    args = org_parser(__doc__).parse_args()

    from generator import build as build_module
    from generator.config import load_settings
    from generator.skips import SkipReport
    from generator.sources import SourceResult

    made = rows(args.people, args.models, args.days)
    fake = SourceResult(tuple(made), SkipReport(), "synthetic", sum(r.invocations for r in made))
    build_module.read_source = lambda *a, **k: fake  # type: ignore[assignment]
    config = Path(tempfile.mkdtemp()) / "teams.toml"
    config.write_text('team_from = "iam-path"\n[budgets]\ntotal = 100000\n')
    out = Path(tempfile.mkdtemp(prefix="bench-dashboard-")) / "site"
    settings = load_settings({"source": "demo", "out": out, "now": NOW.isoformat(), "config": str(config)},
                             environ={}, env_file=None)  # fmt: skip
    start = time.perf_counter()
    build_module.build(settings)
    took = time.perf_counter() - start
    print(f"{args.people:,} people x {args.models} models x {args.days} days: {len(made):,} hourly rows, "
          f"built in {took:.1f} s")  # fmt: skip
    files = [p for p in out.rglob("*") if p.is_file()]
    data = sorted((p for p in files if p.parts[-2] == "data" or "data" in p.parts), key=lambda p: -p.stat().st_size)
    print(f"{len(files):,} files, {sum(p.stat().st_size for p in files) / 1e6:,.1f} MB in all")
    for folder in ("person", "data/person"):
        sizes = [p.stat().st_size for p in (out / folder).iterdir()]
        print(
            f"  {folder}/: {len(sizes):,} files, largest {max(sizes) / 1e3:,.0f} KB, {sum(sizes) / 1e6:,.1f} MB in all"
        )
    print("largest data files (bound 10 MB each):")
    for p in data[:6]:
        zipped = len(gzip.compress(p.read_bytes())) / 1e6
        print(f"  {p.relative_to(out)}: {p.stat().st_size / 1e6:.2f} MB ({zipped:.2f} MB gzipped)")
    print("overview pages (bound 1.5 MB gzipped):")
    for p in sorted(out.glob("usage-*.html")):
        raw = p.read_bytes()
        print(f"  {p.name}: {len(raw) / 1e6:.2f} MB, {len(gzip.compress(raw)) / 1e6:.3f} MB gzipped")
    _time_to_charts(out, args.runs)


def _time_to_charts(site: Path, runs: int) -> None:
    from playwright.sync_api import sync_playwright

    from generator.serve import make_server

    server = make_server(site, 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    print("time to charts in Chromium (bound 1.5 s; median of loads):")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--headless", "--no-sandbox"])
        for page_name in ("usage-7d.html", "usage-90d.html", "usage-mtd.html"):
            times = []
            for _ in range(runs):
                page = browser.new_page()
                page.goto(f"{url}/{page_name}")
                page.wait_for_selector("html[data-charts-ms]", state="attached")
                times.append(float(page.get_attribute("html", "data-charts-ms") or 0) / 1000)
                page.close()
            print(f"  {page_name}: {statistics.median(times):.2f} s (runs: {', '.join(f'{t:.2f}' for t in times)})")
        browser.close()
    server.shutdown()


if __name__ == "__main__":
    main()
