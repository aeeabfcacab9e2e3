"""The Logs Insights source: query text, parsing, query lifecycle, and the incremental store.

moto cannot run `stats` queries, so Logs is a Stubber (exact response shapes) or a fake client
that answers from a known set of hourly rows; moto serves the S3-backed store.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from email.utils import formatdate
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner
from moto import mock_aws

from generator import aws, state
from generator.build import build
from generator.cli import cli
from generator.config import load_settings
from generator.errors import SourceError
from generator.sources import cloudwatch, insights
from generator.sources.cloudwatch import CloudWatchOptions
from generator.sources.insights import Chunk, InsightsRunner, parse_results, query
from generator.sources.partitions import read_partition
from generator.usage import HOUR, HourlyRow, RowTable

T0 = datetime(2026, 11, 27, 7, 30, tzinfo=UTC)
ARN = "arn:aws:iam::123456789012:user/"
MODELS = ["us.anthropic.claude-sonnet-4-5-20250929-v1:0", "amazon.nova-lite-v1:0"]


def hour_text(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S.000")


def result_row(r: HourlyRow, **drop: bool) -> list[dict[str, str]]:
    fields = {
        "hour": hour_text(r.hour), "principal": r.principal, "model_id": r.model_id,
        "invocations": str(r.invocations), "errors": str(r.errors), "input_tokens": str(r.input_tokens),
        "output_tokens": str(r.output_tokens), "cache_read_tokens": str(r.cache_read_tokens),
        "cache_write_tokens": str(r.cache_write_tokens),
    }  # fmt: skip
    return [{"field": k, "value": v} for k, v in fields.items() if not drop.get(k)] + [
        {"field": "@ptr", "value": "CmAKJwoj"}
    ]


def truth(start: datetime, days: int) -> list[HourlyRow]:
    """Known hourly usage: three people, two models, every hour."""
    first = int(start.timestamp()) // HOUR * HOUR
    rows = []
    for h in range(days * 24):
        for i, name in enumerate(("ann", "bob", "cy")):
            hour = first + h * HOUR
            rows.append(HourlyRow(hour, ARN + name, MODELS[(h + i) % 2], 1 + (h + i) % 5, int(h % 7 == 0),
                                  100 * (i + 1), 50 + h % 11, 1000 * (h % 3), 10 * (h % 4), "us-east-1"))  # fmt: skip
    return rows


class FakeLogs:
    """Answers Insights queries from known rows; records every StartQuery range."""

    def __init__(self, rows: list[HourlyRow], statuses: tuple[str, ...] = ("Scheduled", "Running")) -> None:
        self.rows, self.statuses = rows, statuses
        self.started: list[tuple[int, int]] = []
        self.stopped: list[str] = []
        self.pending: dict[str, list[str]] = {}
        self.clock: float | None = None

    def start_query(self, **kwargs: Any) -> dict[str, Any]:
        assert kwargs["queryString"] == query(kwargs["startTime"], kwargs["endTime"]) and kwargs["logGroupNames"]
        query_id = f"q{len(self.started)}"
        self.started.append((kwargs["startTime"], kwargs["endTime"]))
        self.pending[query_id] = list(self.statuses)
        if self.clock is None:
            return {"queryId": query_id}
        return {"queryId": query_id, "ResponseMetadata": {"HTTPHeaders": {"date": formatdate(self.clock, usegmt=True)}}}

    def get_query_results(self, queryId: str, nextToken: str | None = None) -> dict[str, Any]:
        if self.pending[queryId]:
            return {"status": self.pending[queryId].pop(0), "results": [], "statistics": {}}
        start, end = self.started[int(queryId[1:])]
        rows = [r for r in self.rows if start <= r.hour < end]
        matched = float(sum(r.invocations for r in rows))
        return {
            "status": "Complete",
            "results": [result_row(r) for r in rows],
            "statistics": {"recordsMatched": matched, "recordsScanned": matched, "bytesScanned": matched * 1500},
        }

    def stop_query(self, queryId: str) -> dict[str, bool]:
        self.stopped.append(queryId)
        return {"success": True}

    def hours_queried(self) -> int:
        return sum(end - start for start, end in self.started) // HOUR


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(insights.time, "sleep", lambda seconds: None)


@pytest.fixture
def fake_logs(monkeypatch: pytest.MonkeyPatch) -> dict[str, FakeLogs]:
    """Fake Logs clients by region, handed out by the one module that creates clients."""
    fakes: dict[str, FakeLogs] = {}
    real = aws.client

    def client(service: str, **kwargs: Any) -> Any:
        if service == "logs":
            return fakes[kwargs["region"]]
        return real(service, **kwargs)

    monkeypatch.setattr(aws, "client", client)
    # Each run happens at its own `now` (the 91 daily runs play out in the future): the clock follows it.
    world = {"now": 0.0}
    real_read = cloudwatch.read_cloudwatch

    def read_at_now(options: CloudWatchOptions, start: datetime, now: datetime) -> Any:
        world["now"] = now.timestamp()
        return real_read(options, start, now)

    monkeypatch.setattr(cloudwatch, "read_cloudwatch", read_at_now)
    monkeypatch.setattr(insights, "_now", lambda: world["now"])
    return fakes


def read_cloudwatch(options: CloudWatchOptions, start: datetime, now: datetime) -> Any:
    return cloudwatch.read_cloudwatch(options, start, now)  # through the fixture's clock


def test_query_text_snapshot() -> None:
    assert (Path(__file__).parent / "fixtures/insights_query.txt").read_text() == query(0, 3600) + "\n"


def test_parse_results_strings_and_missing_fields() -> None:
    chunk = Chunk("us-east-1", 0, 10 * HOUR)
    row = HourlyRow(3 * HOUR, ARN + "ann", MODELS[0], 4, 1, 10, 20, 30, 40, "us-east-1")
    parsed = parse_results(chunk, [result_row(row), result_row(row, cache_read_tokens=True, errors=True)]).rows
    assert parsed[0] == row
    assert (parsed[1].cache_read_tokens, parsed[1].errors) == (0, 0)  # missing sums count as zero


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("input_tokens", "-1", "non-negative whole number"),
        ("input_tokens", "1.5", "non-negative whole number"),
        ("invocations", "many", "is not a plain non-negative whole number"),
        ("input_tokens", "Infinity", "is not a plain non-negative whole number"),
        ("input_tokens", "NaN", "is not a plain non-negative whole number"),
        ("input_tokens", "1e999999999", "is not a plain non-negative whole number"),
        ("input_tokens", "1" * 19, "is not a plain non-negative whole number"),
        ("model_id", "m" * 1025, "model_id is 1,025 characters long"),
        ("hour", "yesterday", "is not a time"),
        ("hour", "1970-01-01 12:00:00.000", "outside the query range"),
    ],
)
def test_an_invalid_row_fails_the_chunk(field: str, value: str, message: str) -> None:
    row = result_row(HourlyRow(3 * HOUR, ARN + "ann", MODELS[0], 4, 1, 10, 20, 30, 40))
    for f in row:
        if f["field"] == field:
            f["value"] = value
    with pytest.raises(SourceError, match=f"row 1 of us-east-1 1970-01-01 00:00 to 1970-01-01 10:00 UTC.*{message}"):
        parse_results(Chunk("us-east-1", 0, 10 * HOUR), [row])


# ---- the query lifecycle, with botocore's Stubber --------------------------------------------

CHUNK = Chunk("us-east-1", 1764201600, 1764201600 + 24 * HOUR)  # 2025-11-27
START = {"logGroupNames": ["/aws/bedrock/modelinvocations"], "startTime": CHUNK.start, "endTime": CHUNK.end,
         "queryString": query(CHUNK.start, CHUNK.end), "limit": 10_000}  # fmt: skip


def runner(client: Any, **kwargs: Any) -> InsightsRunner:
    return InsightsRunner({"us-east-1": client}, ("/aws/bedrock/modelinvocations",), **kwargs)


def test_statuses_until_complete(stubbed: Any) -> None:
    client, stub = stubbed("logs")
    row = HourlyRow(CHUNK.start + 5 * HOUR, ARN + "ann", MODELS[0], 4, 1, 10, 20, 30, 40, "us-east-1")
    stub.add_response("start_query", {"queryId": "q-1"}, START)
    stub.add_response("get_query_results", {"status": "Scheduled", "results": []}, {"queryId": "q-1"})
    stub.add_response("get_query_results", {"status": "Running", "results": [result_row(row)]}, {"queryId": "q-1"})
    stub.add_response(
        "get_query_results",
        {"status": "Complete", "results": [result_row(row)],
         "statistics": {"recordsMatched": 4.0, "recordsScanned": 9.0, "bytesScanned": 5000.0}},
        {"queryId": "q-1"},
    )  # fmt: skip
    run = runner(client)
    (result,) = run.run([CHUNK])
    assert result.rows == (row,) and result.bytes_scanned == 5000.0
    assert isinstance(result.rows, RowTable)  # a first run holds every day's results until each is merged
    assert (run.stats.queries, run.stats.hours, run.stats.records_matched) == (1, 24, 4.0)


@pytest.mark.parametrize("status", ["Failed", "Cancelled", "Timeout", "Unknown"])
def test_a_failed_query_stops_the_others_and_names_the_chunk(stubbed: Any, status: str) -> None:
    client, stub = stubbed("logs")
    second = Chunk("us-east-1", CHUNK.end, CHUNK.end + 24 * HOUR)
    stub.add_response("start_query", {"queryId": "q-1"}, START)
    stub.add_response(
        "start_query",
        {"queryId": "q-2"},
        {**START, "startTime": second.start, "endTime": second.end, "queryString": query(second.start, second.end)},
    )
    stub.add_response("get_query_results", {"status": status, "results": []}, {"queryId": "q-1"})
    stub.add_response("stop_query", {"success": True}, {"queryId": "q-2"})
    with pytest.raises(SourceError, match=f"for us-east-1 2025-11-27 00:00 to 2025-11-28 00:00 UTC ended {status}"):
        runner(client, concurrency=2).run([CHUNK, second])


def test_limit_exceeded_is_retried(stubbed: Any) -> None:
    client, stub = stubbed("logs")
    stub.add_client_error("start_query", "LimitExceededException", "too many concurrent queries")
    stub.add_response("start_query", {"queryId": "q-1"}, START)
    stub.add_response("get_query_results", {"status": "Complete", "results": []}, {"queryId": "q-1"})
    (result,) = runner(client).run([CHUNK])
    assert result.rows == ()


def test_other_start_errors_are_fatal(stubbed: Any) -> None:
    client, stub = stubbed("logs")
    stub.add_client_error("start_query", "ResourceNotFoundException", "log group does not exist")
    with pytest.raises(SourceError, match="ResourceNotFoundException"):
        runner(client).run([CHUNK])


def test_deadline_stops_running_queries(stubbed: Any) -> None:
    client, stub = stubbed("logs")
    clock = iter([0.0, 0.0, 100.0, 100.0])
    stub.add_response("start_query", {"queryId": "q-1"}, START)
    stub.add_response("get_query_results", {"status": "Running", "results": []}, {"queryId": "q-1"})
    stub.add_response("stop_query", {"success": True}, {"queryId": "q-1"})
    stopped = runner(client, deadline=10, clock=lambda: next(clock))
    assert stopped.run([CHUNK]) == [] and stopped.unfinished == [CHUNK]  # stopped, and left for the next run
    stub.assert_no_pending_responses()


def test_ctrl_c_stops_running_queries(stubbed: Any) -> None:
    client, stub = stubbed("logs")
    stub.add_response("start_query", {"queryId": "q-1"}, START)
    stub.add_response("stop_query", {"success": True}, {"queryId": "q-1"})

    def interrupt(seconds: float) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        runner(client, sleep=interrupt).run([CHUNK])


def test_capped_chunks_are_split_until_none_is() -> None:
    rows = truth(datetime(2025, 11, 27, tzinfo=UTC), 1)  # 72 rows in the day
    fake = FakeLogs(rows, statuses=())
    run = InsightsRunner({"us-east-1": fake}, ("g",), row_cap=40)
    results = run.run([CHUNK])
    assert sorted(r for res in results for r in res.rows) == sorted(rows)
    assert all(len(res.rows) < 40 for res in results)
    assert run.stats.split >= 1 and fake.started[0] == (CHUNK.start, CHUNK.end)


def test_a_capped_single_hour_is_an_error() -> None:
    rows = [HourlyRow(CHUNK.start, ARN + str(i), "m", 1, 0, 1, 1, 0, 0) for i in range(5)]
    with pytest.raises(SourceError, match="within one hour"):
        InsightsRunner({"us-east-1": FakeLogs(rows, ())}, ("g",), row_cap=5).run(
            [Chunk("us-east-1", CHUNK.start, CHUNK.start + HOUR)]
        )


# ---- the incremental store ---------------------------------------------------------------------


def options(tmp_path: Path, **kwargs: Any) -> CloudWatchOptions:
    return CloudWatchOptions(state=str(tmp_path / "state"), regions=("us-east-1",), **kwargs)


def test_first_run_fills_the_store_and_matches_the_truth(tmp_path: Path, fake_logs: dict[str, FakeLogs]) -> None:
    rows = truth(T0 - timedelta(days=92), 93)
    fake_logs["us-east-1"] = FakeLogs(rows)
    start = T0.replace(minute=0) - timedelta(days=90)
    result = read_cloudwatch(options(tmp_path), start, T0)
    end = int(T0.timestamp()) // HOUR * HOUR
    assert list(result.rows) == sorted(
        (r for r in rows if start.timestamp() <= r.hour < end), key=lambda r: (r.hour, r.principal, r.model_id)
    )
    assert result.queries["queries"] == 91  # one per UTC day
    assert result.queries["bytes_scanned"] > 0 and result.queries["estimated_cost_usd"] >= 0


@pytest.mark.parametrize(("lag", "hours"), [(0, 1), (2, 3)])
def test_an_hour_later_only_new_and_unsettled_hours(
    tmp_path: Path, fake_logs: dict[str, FakeLogs], lag: int, hours: int
) -> None:
    fake_logs["us-east-1"] = fake = FakeLogs(truth(T0 - timedelta(days=3), 4))
    start = T0.replace(minute=0) - timedelta(days=1)
    read_cloudwatch(options(tmp_path, settle_lag_hours=lag), start, T0)
    before = len(fake.started)
    read_cloudwatch(options(tmp_path, settle_lag_hours=lag), start + timedelta(hours=1), T0 + timedelta(hours=1))
    new = fake.started[before:]
    assert sum(e - s for s, e in new) // HOUR == hours
    assert max(e for _, e in new) == int(T0.timestamp()) // HOUR * HOUR + HOUR


def test_a_broken_partition_is_queried_again(tmp_path: Path, fake_logs: dict[str, FakeLogs]) -> None:
    fake_logs["us-east-1"] = fake = FakeLogs(truth(T0 - timedelta(days=5), 6))
    start = T0.replace(minute=0) - timedelta(days=3)
    first = read_cloudwatch(options(tmp_path), start, T0)
    victim = tmp_path / "state/region=us-east-1/day=2026-11-25.json"
    victim.write_bytes(victim.read_bytes()[:200])  # a crash mid-write
    before = len(fake.started)
    again = read_cloudwatch(options(tmp_path), start, T0)
    day = int(datetime(2026, 11, 25, tzinfo=UTC).timestamp())
    assert fake.started[before] == (day, day + 24 * HOUR)
    assert again.rows == first.rows


def tamper(path: Path, change: Any) -> None:
    """Rewrite a partition's rows with a valid checksum, as a buggy or hostile writer could."""
    import hashlib

    doc = json.loads(path.read_bytes())
    change(doc)
    body = json.dumps(doc["rows"], separators=(",", ":"))
    doc["rows_sha256"] = hashlib.sha256(body.encode()).hexdigest()
    path.write_text(json.dumps(doc))


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d["rows"].append([d["rows"][0][0] - 86400, *d["rows"][0][1:]]),  # a row of another day
        lambda d: d["rows"][0].__setitem__(5, -40),  # negative tokens
        lambda d: d["rows"][0].__setitem__(5, 1.5),  # a float count
        lambda d: d["rows"][0].__setitem__(3, True),  # a bool is no count
        lambda d: d.__setitem__("region", "eu-west-1"),  # another region's partition
        lambda d: d.__setitem__("day", "2026-11-24"),  # another day's partition
    ],
    ids=["other-day-row", "negative", "float", "bool", "other-region", "other-day"],
)
def test_an_invalid_partition_is_queried_again(tmp_path: Path, fake_logs: dict[str, FakeLogs], change: Any) -> None:
    fake_logs["us-east-1"] = fake = FakeLogs(truth(T0 - timedelta(days=5), 6))
    start = T0.replace(minute=0) - timedelta(days=3)
    first = read_cloudwatch(options(tmp_path), start, T0)
    tamper(tmp_path / "state/region=us-east-1/day=2026-11-25.json", change)
    before = len(fake.started)
    again = read_cloudwatch(options(tmp_path), start, T0)
    day = int(datetime(2026, 11, 25, tzinfo=UTC).timestamp())
    assert fake.started[before] == (day, day + 24 * HOUR) and again.rows == first.rows


def test_stored_days_are_held_as_tables_not_row_objects(tmp_path: Path, fake_logs: dict[str, FakeLogs]) -> None:
    """A day read back from the store and the source's rows are numpy columns (80 bytes a row, where row objects
    took 580: 1 GB at 2,000 people x 10 models x 90 days), and they read as the same rows run after run."""
    fake_logs["us-east-1"] = FakeLogs(truth(T0 - timedelta(days=5), 6))
    start = T0.replace(minute=0) - timedelta(days=3)
    first = read_cloudwatch(options(tmp_path), start, T0)
    again = read_cloudwatch(options(tmp_path), start, T0)
    stored = read_partition(state.open_store(str(tmp_path / "state")), "us-east-1", date(2026, 11, 25))
    assert stored is not None and isinstance(stored.rows, RowTable) and len(stored.rows) > 0
    assert isinstance(first.rows, RowTable) and isinstance(again.rows, RowTable)
    assert again.rows == first.rows and first.records == first.rows.calls() == sum(r.invocations for r in first.rows)


@pytest.mark.parametrize("who", ["--now", "local clock"])
def test_a_clock_ahead_never_settles_hours_the_service_can_still_receive(
    tmp_path: Path, fake_logs: dict[str, FakeLogs], monkeypatch: pytest.MonkeyPatch, who: str
) -> None:
    """Real now is T0; the run believes it is 3 days later. Late records must still be counted."""
    rows = truth(T0 - timedelta(days=5), 5)
    fake_logs["us-east-1"] = fake = FakeLogs(rows, statuses=())
    fake.clock = T0.timestamp()  # AWS's Date header tells the real time
    ahead = T0 + timedelta(days=3)
    monkeypatch.setattr(insights, "_now", lambda: (ahead if who == "local clock" else T0).timestamp())
    start = T0.replace(minute=0) - timedelta(days=4)
    read_cloudwatch(options(tmp_path), start, ahead)
    for path in (tmp_path / "state").rglob("*.json"):
        doc = json.loads(path.read_text())
        day = datetime.fromisoformat(doc["day"]).replace(tzinfo=UTC).timestamp()
        assert doc["settled_through"] <= max(day, T0.timestamp() - 2 * HOUR)  # day start: nothing settled
    late = HourlyRow(int(T0.timestamp()) // HOUR * HOUR - HOUR, ARN + "late", MODELS[0], 7, 0, 1, 1, 0, 0, "us-east-1")
    fake.rows.append(late)  # delivered after the first run, for an hour that run saw
    monkeypatch.setattr(insights, "_now", lambda: (T0 + timedelta(hours=5)).timestamp())
    fake.clock = (T0 + timedelta(hours=5)).timestamp()
    result = read_cloudwatch(options(tmp_path), start, ahead)
    assert late in result.rows


def test_rebuild_since_requeries_from_that_day(tmp_path: Path, fake_logs: dict[str, FakeLogs]) -> None:
    fake_logs["us-east-1"] = fake = FakeLogs(truth(T0 - timedelta(days=5), 6))
    start = T0.replace(minute=0) - timedelta(days=3)
    read_cloudwatch(options(tmp_path), start, T0)
    before = len(fake.started)
    read_cloudwatch(options(tmp_path, rebuild=True, since=date(2026, 11, 26)), start, T0)
    assert [datetime.fromtimestamp(s, UTC).date().isoformat() for s, _ in fake.started[before:]] == [
        "2026-11-26", "2026-11-27"]  # fmt: skip


def test_regions_are_merged(tmp_path: Path, fake_logs: dict[str, FakeLogs]) -> None:
    east, west = truth(T0 - timedelta(days=2), 3), truth(T0 - timedelta(days=2), 3)
    fake_logs["us-east-1"], fake_logs["eu-west-1"] = FakeLogs(east), FakeLogs(west)
    start = T0.replace(minute=0) - timedelta(days=1)
    result = read_cloudwatch(
        CloudWatchOptions(state=str(tmp_path / "s"), regions=("us-east-1", "eu-west-1")), start, T0
    )
    in_window = [r for r in east if start.timestamp() <= r.hour < int(T0.timestamp()) // HOUR * HOUR]
    assert sum(r.invocations for r in result.rows) == 2 * sum(r.invocations for r in in_window)
    assert (tmp_path / "s/region=eu-west-1").is_dir() and (tmp_path / "s/region=us-east-1").is_dir()


def test_state_in_s3(fake_logs: dict[str, FakeLogs]) -> None:
    fake_logs["us-east-1"] = fake = FakeLogs(truth(T0 - timedelta(days=3), 4))
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="site")
        opts = CloudWatchOptions(state="s3://site/.bedrock-usage-state/", regions=("us-east-1",))
        start = T0.replace(minute=0) - timedelta(days=2)
        first = read_cloudwatch(opts, start, T0)
        keys = [
            o["Key"] for o in boto3.client("s3", region_name="us-east-1").list_objects_v2(Bucket="site")["Contents"]
        ]
        assert ".bedrock-usage-state/region=us-east-1/day=2026-11-26.json" in keys
        before = len(fake.started)
        again = read_cloudwatch(opts, start, T0)
        assert again.rows == first.rows
        assert sum(e - s for s, e in fake.started[before:]) // HOUR <= 3  # only the unsettled hours


def test_91_daily_runs_scan_under_three_days_and_match_a_rebuild(
    tmp_path: Path, fake_logs: dict[str, FakeLogs]
) -> None:
    rows = truth(T0 - timedelta(days=92), 183)
    fake_logs["us-east-1"] = fake = FakeLogs(rows, statuses=())
    state = tmp_path / "state"

    def settings(now: datetime, store: Path, **extra: Any) -> Any:
        return load_settings(
            {"source": "cloudwatch", "regions": ("us-east-1",), "state": str(store), "now": now.isoformat(),
             "out": tmp_path / f"site-{store.name}", **extra},
            environ={}, env_file=None,
        )  # fmt: skip

    first_scan = 0
    for day in range(90):
        before = len(fake.started)
        now = T0 + timedelta(days=day)
        start = now.replace(minute=0) - timedelta(days=90)
        read_cloudwatch(settings(now, state).cloudwatch, start, now)
        if day == 0:
            first_scan = sum(e - s for s, e in fake.started[before:]) // HOUR
    before = len(fake.started)
    last = T0 + timedelta(days=90)
    build(settings(last, state))  # the 91st run, through the whole build
    scanned = sum(e - s for s, e in fake.started[before:]) / HOUR
    assert 24 <= scanned < 72, scanned  # the new hours, the settling ones, and yesterday's day-old re-check
    assert any(e - s == 24 * HOUR for s, e in fake.started[before:])
    assert first_scan >= 90 * 24
    build(settings(last, tmp_path / "fresh"))
    for name in ("data/usage-90d.json", "usage-90d.html", "data/usage-last-month.csv"):
        assert (tmp_path / "site-state" / name).read_bytes() == (tmp_path / "site-fresh" / name).read_bytes()
    print(f"91st daily run queried {scanned:.0f} hours, a day-old re-check included (every window: 128 days)")


def test_build_from_cloudwatch_end_to_end(tmp_path: Path, fake_logs: dict[str, FakeLogs]) -> None:
    fake_logs["us-east-1"] = FakeLogs(truth(T0 - timedelta(days=92), 93))
    out = tmp_path / "site"
    args = ["build", "--source", "cloudwatch", "--region", "us-east-1", "--state", str(tmp_path / "st"),
            "--now", T0.isoformat(), "--out", str(out), "--log-group", "/aws/bedrock/modelinvocations"]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    # 91 days of windows and, for the change against the previous period, the 90 days before them
    assert "Insights: 181 queries over" in result.output and "MB scanned" in result.output
    manifest = json.loads((out / "data/manifest.json").read_text())
    assert manifest["queries"]["queries"] == 181 and manifest["source"].startswith("cloudwatch:")
    assert json.loads((out / "data/usage-7d.json").read_text())["users"][0]["name"] in {"ann", "bob", "cy"}


def test_a_failed_query_publishes_nothing(tmp_path: Path, fake_logs: dict[str, FakeLogs]) -> None:
    fake = FakeLogs(truth(T0 - timedelta(days=2), 3), statuses=("Running", "Failed"))
    fake_logs["us-east-1"] = fake
    out = tmp_path / "site"
    args = ["build", "--source", "cloudwatch", "--region", "us-east-1", "--state", str(tmp_path / "st"),
            "--now", T0.isoformat(), "--out", str(out), "--windows", "1d"]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1 and "ended Failed; nothing was published" in result.output
    assert not out.exists() and not (tmp_path / "st").exists()


def test_the_scheduled_run_reads_current_prices_once_a_day(
    monkeypatch: pytest.MonkeyPatch, fake_logs: dict[str, FakeLogs]
) -> None:
    from generator import lambda_handler
    from tests.test_prices_current import FakePricing

    fake_logs["us-east-1"] = FakeLogs(truth(datetime.now(UTC) - timedelta(days=2), 3))
    pricing = FakePricing()
    logs_client = aws.client  # the fixture's: fake Logs, real (moto) everything else
    monkeypatch.setattr(
        aws, "client", lambda service, **k: pricing if service == "pricing" else logs_client(service, **k)
    )
    for name, value in {"SOURCE": "cloudwatch", "BUCKET": "site", "AWS_REGION": "us-east-1", "WINDOWS": "7d",
                        "STATE": "s3://site/.bedrock-usage-state/"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="site")
        lambda_handler.handler({}, None)
        lambda_handler.handler({}, None)
        cache = s3.get_object(Bucket="site", Key=".bedrock-usage-state/prices/price-list-us-east-1.json")
        published = json.loads(s3.get_object(Bucket="site", Key="data/pricing.json")["Body"].read())
    assert json.loads(cache["Body"].read())["region"] == "us-east-1"
    assert pricing.reads == {"us-east-1": 1}  # the second run used the day-old cache
    assert "AWS Price List cached under a day for us-east-1" in published["price_list"]
    from_list = [p for p in published["prices"] if p["layer"] == "price-list"]
    assert {p["model"] for p in from_list} >= {"anthropic.claude-sonnet-4-5-20250929-v1:0", "amazon.nova-lite-v1:0"}


def test_events_that_are_not_invocations_are_counted_not_fatal() -> None:
    chunk = Chunk("us-east-1", 0, 10 * HOUR)
    ours = HourlyRow(3 * HOUR, ARN + "ann", MODELS[0], 4, 1, 10, 20, 30, 40, "us-east-1")
    foreign = [{"field": "hour", "value": "1970-01-01 03:00:00.000"}, {"field": "invocations", "value": "7"}]
    parsed = parse_results(chunk, [result_row(ours), foreign, [*foreign, {"field": "principal", "value": "x"}]])
    assert parsed.rows == [ours] and parsed.foreign == 14
