"""The Lambda's everyday build: a CloudWatch or S3 source whose days are already in the store, at 2,000 people.

Writes one stored day a day (every person x model once a day: 2,000 x 10 x 90 = 1.8M hourly rows): for CloudWatch
a partition, settled and re-checked, so a run queries only the last unsettled hours; for S3 a day of delivery hours
whose objects a stand-in listing shows unchanged, so a run reads none. Then runs, interleaved run by run, each a
fresh process, `build` of this checkout and of `--baseline` (a git revision) against that store, with stand-in AWS
clients (no AWS, no network). Prints medians and the peak RSS of each: what the stored rows cost while they are
read, held and summed.

    python benchmarks/bench_stored.py [--source cloudwatch|s3] [--people 2000] [--models 10] [--days 90] [--runs 3]
                                      [--baseline HEAD~1]
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_build import NOW
from bench_dashboard import org_parser
from bench_dedup import worktree
from bench_scale import MODELS, cached, compare

ROOT = Path(__file__).resolve().parent.parent
GROUP = "/aws/bedrock/modelinvocations"

# Run in the child: Logs clients that find nothing (only the last, unsettled hours are asked for), then the CLI.
BUILD = """
import sys
from datetime import UTC, datetime
from generator import aws
PLACE = "AWSLogs/123456789012/BedrockModelInvocationLogs/us-east-1/"
_start = lambda day: int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
from generator.sources import insights

class Empty:  # Logs and S3 clients that find nothing; with FIRST_RUN, Logs answers from the days' rows
    ranges = {}
    def start_query(self, **kwargs):
        self.ranges[str(len(self.ranges))] = (kwargs["startTime"], kwargs["endTime"])
        return {"queryId": str(len(self.ranges) - 1)}
    def get_query_results(self, queryId, **kwargs):
        rows = FIRST_RUN(*self.ranges[queryId]) if FIRST_RUN else []
        return {"status": "Complete", "results": rows, "statistics": {"recordsMatched": float(len(rows))}}
    def stop_query(self, **kwargs): return {}

real = aws.client
aws.client = lambda service, **kw: Empty() if service in ("logs", "s3") else real(service, **kw)
insights._now = lambda: %r
insights.time.sleep = lambda seconds: None  # the stand-in answers at once: no poll need wait
STORED = %r  # the first and the end of the stored days (epoch seconds)
FIRST_RUN = None
if %r:  # a first run: an empty store, and every query answered from the days' rows
    import shutil
    shutil.rmtree(sys.argv[sys.argv.index("--state") + 1], ignore_errors=True)
    sys.path.insert(0, %r)
    from bench_stored import results_between
    FIRST_RUN = lambda start, end: results_between(start, end, %r, %r, STORED)
try:  # the S3 source: one delivery folder, whose every stored hour lists the one object the store fingerprinted
    from generator.sources import s3logs
    s3logs.places = lambda s3, bucket, prefix, stats: [PLACE]
    s3logs._list_day = lambda s3, bucket, place, day, ignored, stats: {
        h: [(f"{place}{h}.json.gz", "etag", 1)] for h in range(_start(day), _start(day) + 86_400, 3600)
        if STORED[0] <= h < STORED[1]}
except ImportError:
    pass
from generator.cli import main
sys.argv = ["bedrock-usage", *sys.argv[1:]]
main()
"""


PLACE = "AWSLogs/123456789012/BedrockModelInvocationLogs/us-east-1/"


def _rows(back: int, people: int, models: int) -> list[list[object]]:
    """A day's rows: every person x model once, at a random hour, as a partition stores them."""
    rng = random.Random(back)
    day = datetime(NOW.year, NOW.month, NOW.day, tzinfo=UTC) - timedelta(days=back)
    start = int(day.timestamp())
    return sorted(
        [start + rng.randrange(24) * 3600, f"arn:aws:iam::123456789012:user/engineer-{p:05d}", m, 1, 0,
         rng.randint(10, 5000), rng.randint(10, 3000), rng.randint(0, 9000), 0, "123456789012"]
        for p in range(people) for m in MODELS[:models]
    )  # fmt: skip


def results_between(start: int, end: int, people: int, models: int, stored: tuple[int, int]) -> list[object]:
    """What Logs Insights answers for hours `start` to `end` (seconds) over the stored days' records: each day's
    rows (as `_rows` makes them) as result rows."""
    found: list[object] = []
    for day in range(max(start, stored[0]) // 86_400 * 86_400, min(end, stored[1]), 86_400):
        back = (stored[1] - day) // 86_400
        for r in _rows(back, people, models):
            if start <= int(str(r[0])) < end:
                hour = datetime.fromtimestamp(int(str(r[0])), UTC).strftime("%Y-%m-%d %H:%M:%S.000")
                values = [hour, *r[1:9], r[9]]
                names = ["hour", "principal", "model_id", "invocations", "errors", "input_tokens", "output_tokens",
                         "cache_read_tokens", "cache_write_tokens", "account"]  # fmt: skip
                found.append([{"field": k, "value": str(v)} for k, v in zip(names, values, strict=True)])
    return found


def generate_s3(state: Path, people: int, models: int, days: int) -> int:
    """One stored day per UTC day before NOW, in the S3 source's store format 1 (each delivery hour's one object
    as the stand-in listing shows it); the rows written."""

    def make(state: Path) -> int:
        total = 0
        digest = hashlib.sha256(f"logs/{PLACE}".encode()).hexdigest()[:16]
        for back in range(1, days + 1):
            day = (datetime(NOW.year, NOW.month, NOW.day, tzinfo=UTC) - timedelta(days=back)).date()
            start = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
            by_hour: dict[int, list[list[object]]] = {h: [] for h in range(start, start + 86_400, 3600)}
            for r in _rows(back, people, models):
                by_hour[int(str(r[0]))].append([*r[:9], "us-east-1", 0, "123456789012", ""])
            hours = {}
            for h, rows in by_hour.items():
                listed = f"{PLACE}{h}.json.gz\tetag\n"
                hours[str(h)] = {"objects": hashlib.sha256(listed.encode()).hexdigest(), "count": 1, "bytes": 1,
                                 "rows": rows, "records": len(rows)}  # fmt: skip
            doc = {"format": 1, "place": f"s3://logs/{PLACE}", "day": day.isoformat(), "hours": hours,
                   "meta_keys": []}  # fmt: skip
            path = state / f"s3-logs/account=123456789012/region=us-east-1/{digest}/day={day.isoformat()}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(doc))
            total += sum(len(rows) for rows in by_hour.values())
        return total

    return cached(state, make)


def generate(state: Path, people: int, models: int, days: int) -> int:
    """One settled partition per UTC day before NOW (in the store's format 1); the rows written."""

    def make(state: Path) -> int:
        total = 0
        today = datetime(NOW.year, NOW.month, NOW.day, tzinfo=UTC)
        for back in range(1, days + 1):
            day = today - timedelta(days=back)
            start = int(day.timestamp())
            rows = _rows(back, people, models)
            body = json.dumps(rows, separators=(",", ":"))
            doc = {
                "format": 1, "region": "us-east-1", "day": day.date().isoformat(), "sources": GROUP,
                "settled_through": start + 86_400, "queried_at": (day + timedelta(days=2)).isoformat(),
                "statistics": {"recordsMatched": len(rows), "bytesScanned": len(rows) * 1500.0},
                "rows_sha256": hashlib.sha256(body.encode()).hexdigest(), "rows": rows, "rechecked": [1],
                "target": "",
            }  # fmt: skip
            path = state / f"region=us-east-1/day={day.date().isoformat()}.json"
            path.parent.mkdir(exist_ok=True)
            path.write_text(json.dumps(doc))
            total += len(rows)
        return total

    return cached(state, make)


def main() -> None:
    parser = org_parser(__doc__)
    parser.add_argument("--baseline", default="", help="a git revision to compare with (default: none)")
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "bedrock-usage-stored")
    parser.add_argument("--source", choices=("cloudwatch", "s3"), default="cloudwatch")
    parser.add_argument("--first-run", action="store_true", help="cloudwatch: an empty store, every day queried")
    args = parser.parse_args()
    state = args.data / f"{args.source}-{args.people}x{args.models}x{args.days}"
    rows = (generate_s3 if args.source == "s3" else generate)(state, args.people, args.models, args.days)
    print(f"{args.source} store: {rows:,} hourly rows ({args.people:,} people x {args.models} models x "
          f"{args.days} days)")  # fmt: skip
    out = Path(tempfile.mkdtemp(prefix="bench-stored-"))
    # Made-up credentials: the builds' Logs clients are stand-ins, and nothing may reach a real account
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_EC2_METADATA_DISABLED="true")
    today = datetime(NOW.year, NOW.month, NOW.day, tzinfo=UTC)
    stored = (int((today - timedelta(days=args.days)).timestamp()), int(today.timestamp()))
    first = args.first_run and args.source == "cloudwatch"
    code = BUILD % (NOW.timestamp(), stored, first, str(Path(__file__).parent), args.people, args.models)
    where = ["--logs", "s3://logs/"] if args.source == "s3" else ["--log-group", GROUP, "--region", "us-east-1"]
    build = ["build", "--source", args.source, "--state", str(state), *where,
             "--now", NOW.isoformat(), "--env-file", "/dev/null", "--no-coverage", "--bill", "none",
             "--price-list", "off", "--windows", "1d,7d,30d,90d,mtd,last-month"]  # fmt: skip
    env_python = [sys.executable, "-c"]
    commands = {"this checkout": [*env_python, f"import sys; sys.path.insert(0, {str(ROOT)!r})\n{code}", *build,
                                  "--out", str(out / "now")]}  # fmt: skip
    tree = worktree(args.baseline) if args.baseline else None
    if tree:
        commands[f"baseline {args.baseline}"] = [*env_python, f"import sys; sys.path.insert(0, {str(tree)!r})\n{code}",
                                                 *build, "--out", str(out / "base")]  # fmt: skip
    try:
        compare(commands, args.runs, tree)
    finally:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
