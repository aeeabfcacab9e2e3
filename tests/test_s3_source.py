"""The files source reading S3-delivered logs in place (moto): layout, incremental store, equality with local files."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from generator.build import build
from generator.config import load_settings
from generator.errors import ConfigError, SourceError
from generator.layout import parse_url
from generator.sources.demo import write_demo_logs
from generator.sources.s3logs import S3Options, read_s3
from generator.usage import RowTable
from tests.conftest import NOW, NOW_ISO, ROOT
from tests.test_sources import lines, record

BUCKET = "org-bedrock-logs"
START = NOW - timedelta(days=3)


def key(hour: datetime, name: str, account: str = "123456789012", region: str = "us-east-1") -> str:
    return f"logs/AWSLogs/{account}/BedrockModelInvocationLogs/{region}/{hour:%Y/%m/%d/%H}/{name}"


@pytest.fixture
def s3(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """An empty log bucket on moto's HTTP server; the source's own clients reach it through AWS_ENDPOINT_URL."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    monkeypatch.setattr(sys.modules[__name__], "BUCKET", f"logs-{uuid.uuid4().hex[:12]}")  # one per test
    client = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    yield client


def put(s3: Any, key_: str, *records: object) -> None:
    s3.put_object(Bucket=BUCKET, Key=key_, Body=gzip.compress(lines(*records)))


def read(tmp_path: Path, **kw: Any) -> Any:
    return read_s3(S3Options((f"s3://{BUCKET}/logs",), str(tmp_path / "state"), **kw), START, NOW)


def stamp(hour: datetime, minute: int = 5) -> str:
    return (hour + timedelta(minutes=minute)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_layout_accounts_regions_offloads_and_corrupt_objects(s3: Any, tmp_path: Path) -> None:
    h = datetime(2026, 11, 26, 10, tzinfo=UTC)
    put(s3, key(h, "a.json.gz"), record("ann", stamp(h)), record("bob", stamp(h)))
    put(s3, key(h, "b.json.gz", "210987654321", "eu-west-1"), record("cy", stamp(h), region="eu-west-1",
                                                                   accountId="210987654321"))  # fmt: skip
    put(s3, key(h, "data/123_input.json.gz"), {"messages": ["a big body"]})  # a body offload: not records
    s3.put_object(Bucket=BUCKET, Key="logs/AWSLogs/123456789012/BedrockModelInvocationLogs/us-east-1/"
                  "2026/11/26/amazon-bedrock-logs-permission-check", Body=b"")  # fmt: skip
    s3.put_object(Bucket=BUCKET, Key=key(h, "broken.json.gz"), Body=b"\x1f\x8b\x08\x00garbage")
    put(s3, key(h - timedelta(days=30), "old.json.gz"), record("old", stamp(h - timedelta(days=30))))

    result = read(tmp_path)
    assert sorted((r.principal.rsplit("/", 1)[1], r.region, r.account) for r in result.rows) == [
        ("ann", "us-east-1", "123456789012"), ("bob", "us-east-1", "123456789012"),
        ("cy", "eu-west-1", "210987654321"),
    ]  # fmt: skip
    assert result.records == 3  # the 30-day-old object is outside the window: its day is never listed
    assert dict(result.ignored.counts) == {"body_offload_object": 1, "permission_check_object": 1,
                                           "rest_of_file_unreadable": 1}  # fmt: skip
    assert dict(result.skipped.counts) == {}
    assert result.queries["objects_read"] == 3 and result.queries["bytes_read"] > 0


def test_incremental_three_runs_late_object_and_rewritten_object(s3: Any, tmp_path: Path) -> None:
    h1, h2 = datetime(2026, 11, 26, 10, tzinfo=UTC), datetime(2026, 11, 26, 11, tzinfo=UTC)
    put(s3, key(h1, "a.json.gz"), record("ann", stamp(h1)))
    put(s3, key(h2, "b.json.gz"), record("bob", stamp(h2)))
    first = read(tmp_path)
    assert (first.queries["hours_read"], first.queries["objects_read"], first.records) == (2, 2, 2)

    second = read(tmp_path)  # nothing changed: nothing read, the same rows from the store
    assert (second.queries["hours_read"], second.queries["objects_read"]) == (0, 0)
    assert second.rows == first.rows and second.queries["hours_unchanged"] == 2
    # held as tables, not row objects (80 bytes a row against 580), as read and as kept
    assert isinstance(first.rows, RowTable) and isinstance(second.rows, RowTable)

    put(s3, key(h1, "late.json.gz"), record("cy", stamp(h1, 50)))  # a late object re-reads its hour only
    third = read(tmp_path)
    assert (third.queries["hours_read"], third.queries["objects_read"], third.records) == (1, 2, 3)

    put(s3, key(h2, "b.json.gz"), record("bob", stamp(h2)), record("bob", stamp(h2, 9)))  # rewritten: new ETag
    fourth = read(tmp_path)
    assert (fourth.queries["hours_read"], fourth.queries["objects_read"], fourth.records) == (1, 1, 4)

    s3.delete_object(Bucket=BUCKET, Key=key(h2, "b.json.gz"))  # expired by a lifecycle rule: its usage stays
    fifth = read(tmp_path)
    assert fifth.records == 4 and fifth.queries["hours_kept_without_objects"] == 1


def test_a_copied_object_is_counted_once(s3: Any, tmp_path: Path) -> None:
    h = datetime(2026, 11, 26, 10, tzinfo=UTC)
    recs = [record("ann", stamp(h, m)) for m in range(3)]
    put(s3, key(h, "a.json.gz"), *recs)
    put(s3, key(h, "a-copy.json.gz"), *recs)
    result = read(tmp_path)
    assert (result.records, result.duplicates) == (3, 3)


def test_a_damaged_store_is_read_again(s3: Any, tmp_path: Path) -> None:
    h = datetime(2026, 11, 26, 10, tzinfo=UTC)
    put(s3, key(h, "a.json.gz"), record("ann", stamp(h)))
    first = read(tmp_path)
    for stored in (tmp_path / "state").rglob("day=2026-11-26.json"):
        doc = json.loads(stored.read_text())
        for hour in doc["hours"].values():
            hour["rows"][0][3] = -5  # a negative count no source could write
        stored.write_text(json.dumps(doc))
    again = read(tmp_path)
    assert again.queries["hours_read"] == 1 and again.rows == first.rows


def test_steady_state_daily_run_reads_at_most_two_days(s3: Any, tmp_path: Path) -> None:
    first_hour = NOW.replace(minute=0) - timedelta(days=10)
    for n in range(10 * 24):  # ten days of hourly objects, then the run's next day brings 24 more
        hour = first_hour + timedelta(hours=n)
        put(s3, key(hour, f"{n}.json.gz"), record(f"p{n % 5}", stamp(hour)), record("ann", stamp(hour, 30)))
    options = S3Options((f"s3://{BUCKET}/logs",), str(tmp_path / "state"))
    start = first_hour
    first = read_s3(options, start, NOW)
    assert first.queries["objects_read"] == 240 and first.records == 480
    tomorrow = NOW + timedelta(days=1)
    for n in range(24):
        hour = NOW.replace(minute=0) + timedelta(hours=n)
        put(s3, key(hour, f"next-{n}.json.gz"), record("bob", stamp(hour)))
    second = read_s3(options, start + timedelta(days=1), tomorrow)
    assert 0 < second.queries["hours_read"] <= 48 and second.queries["objects_read"] <= 48
    assert second.queries["bytes_read"] < first.queries["bytes_read"] / 5
    assert second.records == 480 - 48 + 24  # the day that left the window, and the new one


def _hour_of(path: Path) -> datetime:
    parts = path.parts
    at = parts.index("BedrockModelInvocationLogs") + 2
    y, m, d, h = parts[at : at + 4]
    return datetime(int(y), int(m), int(d), int(h), tzinfo=UTC)


def _upload(s3: Any, folder: Path, prefix: str) -> None:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            s3.put_object(Bucket=BUCKET, Key=prefix + str(path.relative_to(folder)), Body=path.read_bytes())


@pytest.mark.parametrize("url", ["s3://", "s3://B/x", "s3://bucket/../x", "http://bucket/x"])
def test_bad_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError):
        parse_url(url)


def test_no_delivery_folders_is_a_clear_error(s3: Any, tmp_path: Path) -> None:
    s3.put_object(Bucket=BUCKET, Key="logs/something-else.txt", Body=b"x")
    with pytest.raises(SourceError, match="no AWSLogs/<account>/BedrockModelInvocationLogs/<region>/ folders"):
        read(tmp_path)


def test_build_from_s3_over_http(moto_server: str, tmp_path: Path) -> None:
    """`bedrock-usage build --logs s3://...` end to end against moto's HTTP server; a second run reads nothing."""
    client = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1")
    client.create_bucket(Bucket="http-logs")
    folder = tmp_path / "logs"
    write_demo_logs(folder, NOW)
    objects = [p for p in sorted(folder.rglob("*.json.gz")) if "data" not in p.parts][-200:]
    for path in objects:
        client.put_object(Bucket="http-logs", Key="x/" + str(path.relative_to(folder)), Body=path.read_bytes())
    env = {**os.environ, "AWS_ENDPOINT_URL": moto_server, "SOURCE": ""}
    command = [sys.executable, "-m", "generator", "build", "--logs", "s3://http-logs/x", "--now", NOW_ISO,
               "--state", str(tmp_path / "state"), "--out", str(tmp_path / "site"), "--env-file", "/dev/null",
               "--price-list", "off"]  # fmt: skip
    runs = []
    for _ in range(2):
        done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT, check=False)
        assert done.returncode == 0, done.stderr
        runs.append(json.loads((tmp_path / "site/data/manifest.json").read_text()))
    first, second = (run["queries"] for run in runs)
    assert first["objects_read"] == 200 and first["bytes_read"] > 0
    assert second["objects_read"] == 0 and second["hours_unchanged"] == first["hours_read"]
    assert runs[0]["source"] == runs[1]["source"] == "s3: s3://http-logs/x"


def test_s3_and_local_logs_together_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="local paths or s3:// URLs"):
        load_settings({"logs": ("s3://b/x", str(tmp_path))}, environ={}, env_file=None)


def test_files_s3_and_cloudwatch_give_byte_identical_usage_json(
    s3: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same records read from local files, from S3 in place and through Logs Insights (the emulator)."""
    from generator.sources import insights
    from tests.test_insights_emulator import Emulator, serve
    from tests.test_insights_emulator import record as event

    monkeypatch.setattr(insights.time, "sleep", lambda seconds: None)
    monkeypatch.setattr(insights, "_now", lambda: NOW.timestamp())
    base = NOW.replace(minute=0) - timedelta(days=40)
    models = ("us.anthropic.claude-sonnet-4-6", "amazon.nova-lite-v1:0", "global.anthropic.claude-opus-4-7")
    events = [event(base + timedelta(minutes=59 * i), f"p{i % 7}", models[i % 3],
                    (1000 + i, 200 + i, 5000 * (i % 2), 300 * (i % 3)), error=i % 11 == 0)
              for i in range(600)]  # fmt: skip
    folder = tmp_path / "logs"
    for stamp_ms, message in events:
        hour = datetime.fromtimestamp(stamp_ms // 1000, UTC)
        path = folder / key(hour, f"{stamp_ms}.json.gz").removeprefix("logs/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip.compress(message.encode() + b"\n"))
    _upload(s3, folder, "logs/")
    serve(monkeypatch, Emulator(events))
    outputs = {}
    for name, cli in (("files", {"logs": (str(folder),)}), ("s3", {"logs": (f"s3://{BUCKET}/logs",)}),
                      ("cloudwatch", {"source": "cloudwatch", "regions": ("us-east-1",)})):  # fmt: skip
        out = tmp_path / name
        settings = load_settings({**cli, "out": out, "now": NOW_ISO, "state": str(tmp_path / f"state-{name}"),
                                  "price_list": "off", "coverage": False}, environ={}, env_file=None)  # fmt: skip
        build(settings)
        outputs[name] = (out / "data/usage-90d.json").read_bytes()
    assert json.loads(outputs["files"])["totals"]["invocations"] == 600
    assert outputs["s3"] == outputs["files"]
    assert outputs["cloudwatch"] == outputs["files"]


def test_hostile_records_in_s3_are_counted_skips(s3: Any, tmp_path: Path) -> None:
    h = NOW.replace(minute=0, second=0, microsecond=0) - timedelta(hours=5)
    good = json.dumps(record("ann", stamp(h))).encode()
    bad_utf8 = good.replace(b"ann", b"a\xc3\x28")
    year_one = good.replace(stamp(h).encode(), b"0001-01-01T00:00:00+23:59")
    next_year = good.replace(stamp(h).encode(), stamp(h + timedelta(days=365)).encode())
    s3.put_object(Bucket=BUCKET, Key=key(h, "a.json.gz"),
                  Body=gzip.compress(b"\n".join((good, bad_utf8, year_one, next_year)) + b"\n"))  # fmt: skip
    result = read(tmp_path)
    assert result.records == 1
    assert dict(result.skipped.counts) == {"invalid_field": 1, "invalid_utf8": 1, "timestamp_far_from_delivery": 1}


def test_a_request_delivered_in_two_hours_counts_once(s3: Any, tmp_path: Path) -> None:
    h1, h2, h3 = (datetime(2026, 11, 26, h, tzinfo=UTC) for h in (10, 11, 12))
    twice = record("ann", stamp(h1, 58))
    put(s3, key(h1, "a.json.gz"), twice, record("bob", stamp(h1)))
    put(s3, key(h2, "b.json.gz"), twice, record("cy", stamp(h2)))  # delivered again into the next hour's folder
    first = read(tmp_path)
    assert (first.records, first.duplicates) == (3, 1)
    assert sum(r.invocations for r in first.rows) == 3
    # the next run reads only a new hour, which repeats the request too: the stored hours' keys still count it
    put(s3, key(h3, "c.json.gz"), twice)
    second = read(tmp_path)
    assert second.queries["hours_read"] == 1
    assert (second.records, sum(r.invocations for r in second.rows)) == (3, 3)
    third = read(tmp_path)  # nothing changed: the same, from the store
    assert (third.records, third.queries["hours_read"]) == (3, 0)
    # the keys live beside the day (read only when the day changes), never inside the hours every run reads
    (day,) = (tmp_path / "state").rglob("day=2026-11-26.json")
    assert '"keys":""' in day.read_text() and day.with_name(day.name + ".keys").stat().st_size > 0


@pytest.mark.parametrize("same_run", [True, False])
def test_a_request_delivered_again_over_midnight_counts_once(s3: Any, tmp_path: Path, same_run: bool) -> None:
    late, early = datetime(2026, 11, 25, 23, tzinfo=UTC), datetime(2026, 11, 26, 0, tzinfo=UTC)
    twice = record("ann", stamp(late, 59))
    put(s3, key(late, "a.json.gz"), twice)
    if not same_run:
        assert read(tmp_path).records == 1  # the 23:00 folder is read and stored first
    put(s3, key(early, "b.json.gz"), twice, record("bob", stamp(early)))  # again, in the next day's first folder
    found = read(tmp_path)
    assert (found.records, sum(r.invocations for r in found.rows)) == (2, 2)


class _Counting:
    """The source's S3 client, counting each object's reads; it fails the read after `stop_after` (a killed run)."""

    def __init__(self, client: Any, reads: dict[str, int], stop_after: int | None = None) -> None:
        self.client, self.reads, self.stop_after = client, reads, stop_after

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def get_object(self, **kw: Any) -> Any:
        if self.stop_after is not None and sum(self.reads.values()) >= self.stop_after:
            raise KeyboardInterrupt  # as good as a kill: nothing after it runs
        self.reads[kw["Key"]] = self.reads.get(kw["Key"], 0) + 1
        return self.client.get_object(**kw)


def _backfill(s3: Any) -> int:
    """Four days x 24 hours x 2 objects of one record each, from START on."""
    first = START.replace(minute=0, second=0, microsecond=0)
    for h in range(4 * 24):
        hour = first + timedelta(hours=h)
        if hour >= NOW - timedelta(hours=1):
            break
        for n in range(2):
            put(s3, key(hour, f"{n}.json.gz"), record("ann" if n else "bob", stamp(hour, 5 + n)))
    return sum(1 for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET) for _ in page["Contents"])


def test_a_killed_first_backfill_resumes_and_reads_each_object_once(
    s3: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from generator import aws

    objects = _backfill(s3)
    reads: dict[str, int] = {}
    real = aws.client
    stop: list[int | None] = [objects // 2]
    monkeypatch.setattr(aws, "client", lambda service, **kw: _Counting(real(service, **kw), reads, stop[0])
                        if service == "s3" else real(service, **kw))  # fmt: skip
    with pytest.raises(KeyboardInterrupt):
        read(tmp_path, concurrency=2)
    assert 0 < sum(reads.values()) <= objects // 2
    stop[0] = None
    resumed = read(tmp_path, concurrency=2)
    assert sum(reads.values()) < objects + 2 * 24 * 2  # at most the day that was cut off is read again ...
    again = [k for k, n in reads.items() if n > 1]
    assert len({k.rsplit("/", 5)[-5:-2][-1] for k in again}) <= 1  # ... and only that day
    fresh = read(tmp_path / "fresh")
    assert resumed.rows == fresh.rows and resumed.records == fresh.records == objects - 2  # 2 are before START
    assert not resumed.backfill


def test_a_backfill_stopped_by_its_deadline_says_so_and_the_next_run_reads_on(
    s3: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from generator.sources import s3logs

    objects = _backfill(s3)
    ticks = iter(range(1_000_000))
    monkeypatch.setattr(s3logs, "_clock", lambda: next(ticks))  # one second a day started
    first = read(tmp_path, deadline_seconds=2.5)
    days = len({r.hour // 86400 for r in read(tmp_path / "all").rows}) + 1  # the folders an hour either side too
    assert first.backfill.startswith("backfilling: 2 of ") and "the next run reads on from" in first.backfill
    assert 0 < first.records < objects - 2 and first.queries["days_unread"] >= days - 3
    assert "backfilling" in first.line
    monkeypatch.setattr(s3logs, "_clock", lambda: 0)
    done = read(tmp_path, deadline_seconds=900)
    assert not done.backfill and done.records == objects - 2 and done.queries["days_unread"] == 0


def test_the_site_says_a_backfill_is_in_progress(moto_server: str, s3: Any, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    from generator.sources import s3logs

    _backfill(s3)
    ticks = iter(range(0, 1_000_000, 5))  # five seconds a day started: the deadline (10 s, the least) after two
    monkeypatch.setattr(s3logs, "_clock", lambda: next(ticks))
    settings = load_settings({"out": tmp_path / "site", "now": NOW_ISO, "source": "s3", "logs": (f"s3://{BUCKET}/logs",),
                              "state": str(tmp_path / "state"), "insights_deadline": "10"}, environ={},
                             env_file=None)  # fmt: skip
    build(settings)
    page = (tmp_path / "site" / "usage-7d.html").read_text()
    manifest = json.loads((tmp_path / "site" / "data" / "manifest.json").read_text())
    assert 'id="backfill"' in page and "Backfilling: " in page and "days of logs read" in page
    assert manifest["backfill"].startswith("backfilling: ")


def test_repeated_keys_are_found_a_shard_at_a_time() -> None:
    from generator.sources.files import SHARDS, repeated

    keys = [i * SHARDS + 7 for i in range(1000)] + [5, 5, 2**64 - 1, 2**64 - 1, 2**64 - 1, 12]
    assert repeated(keys) == {5, 2**64 - 1}
    assert repeated(range(10_000)) == set() and repeated([]) == set()


def test_request_metadata_is_kept_and_other_keys_read_the_day_again(s3: Any, tmp_path: Path) -> None:
    h = datetime(2026, 11, 26, 10, tzinfo=UTC)
    meta = {"user_id": "u1", "team": "search", "free": "not kept"}
    put(s3, key(h, "a.json.gz"), record("gw", stamp(h), requestMetadata=meta), record("gw", stamp(h, 9)),
        record("gw", stamp(h, 20), requestMetadata={"user_id": "u2"}))  # fmt: skip
    first = read(tmp_path, meta_keys=("team", "user_id"))
    assert sorted((r.meta, r.invocations) for r in first.rows) == [
        ("", 1), ('{"team":"search","user_id":"u1"}', 1), ('{"user_id":"u2"}', 1)]  # fmt: skip
    assert read(tmp_path, meta_keys=("team", "user_id")).queries["objects_read"] == 0  # unchanged: from the store
    other = read(tmp_path, meta_keys=("user_id",))
    assert other.queries["objects_read"] == 1 and {r.meta for r in other.rows} == {"", '{"user_id":"u1"}',
                                                                                   '{"user_id":"u2"}'}  # fmt: skip
