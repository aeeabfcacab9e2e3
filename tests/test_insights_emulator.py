"""The Insights source against an emulator of the service's limits: at most 200 discovered fields per event
(bodies first), foreign events in the group, millisecond timestamps at chunk edges, and a result cap on a
client that cannot page. The emulator runs the query text we send: its filter, parses, coalesces and stats."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from generator import aws
from generator.sources import cloudwatch, insights, read_source
from generator.sources.cloudwatch import CloudWatchOptions, read_cloudwatch
from generator.sources.insights import Chunk, InsightsRunner
from generator.usage import HOUR

FIELD_CAP = 200
T0 = datetime(2026, 11, 27, 7, 30, tzinfo=UTC)


def flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """JSON flattened the way Insights names fields (`a.b.0.c`), in document order."""
    if isinstance(value, dict):
        return [kv for k, v in value.items() for kv in flatten(v, f"{prefix}{k}.")]
    if isinstance(value, list):
        return [kv for i, v in enumerate(value) for kv in flatten(v, f"{prefix}{i}.")]
    return [(prefix[:-1], value)]


class Emulator:
    """StartQuery/GetQueryResults over raw events, with the service's field cap and result cap."""

    def __init__(self, events: list[tuple[int, str]], pages_results: bool = True) -> None:
        self.events, self.pages_results = events, pages_results
        self.results: dict[str, list[list[dict[str, str]]]] = {}
        self.scanned: list[tuple[int, int]] = []
        self._fields: dict[tuple[str, str], dict[str, Any]] = {}  # (query, message) -> fields: speed only

    def start_query(self, *, logGroupNames: list[str], startTime: int, endTime: int, queryString: str,
                    limit: int) -> dict[str, Any]:  # fmt: skip
        self.scanned.append((startTime, endTime))
        lo, hi = map(int, re.search(r"@timestamp >= (\d+) and @timestamp < (\d+)", queryString).groups())  # type: ignore[union-attr]
        parses = [re.compile(p.replace("(?<", "(?P<")) for p in re.findall(r"parse @message /(.*)/", queryString)]
        coalesce = re.findall(r"coalesce\(`?([\w. -]+?)`?, (\w+)\) as (\w+)", queryString)
        metas = len(re.findall(r"c_meta\d+ as meta\d+", queryString))  # grouped by request-metadata values too
        groups: dict[tuple[str, ...], dict[str, float]] = defaultdict(lambda: defaultdict(float))
        for stamp, message in self.events:
            if not (startTime * 1000 <= stamp < (endTime + 1) * 1000 and lo <= stamp < hi):
                continue
            fields = self._fields.get((queryString[-400:], message))
            if fields is None:
                fields = dict(flatten(json.loads(message))[:FIELD_CAP])  # discovery stops at 200 fields
                for pattern in parses:
                    found = pattern.search(message)
                    fields.update(found.groupdict() if found else {})
                for discovered, parsed, name in coalesce:
                    fields[name] = fields.get(discovered, fields.get(parsed))
                self._fields[(queryString[-400:], message)] = fields
            hour = datetime.fromtimestamp(stamp // 1000 // HOUR * HOUR, UTC).strftime("%Y-%m-%d %H:%M:%S.000")
            key = (hour, str(fields.get("c_arn") or ""), str(fields.get("c_model") or ""),
                   str(fields.get("c_account") or ""), *(fields.get(f"c_meta{i}") for i in range(metas)))  # fmt: skip
            acc = groups[key]
            acc["invocations"] += 1
            acc["errors"] += "errorCode" in fields
            acc["counted"] += fields.get("c_input_tokens") is not None
            for name in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens"):
                acc[name] += float(fields.get(f"c_{name}") or 0)
        rows = [
            [{"field": "hour", "value": h}, *([{"field": "principal", "value": p}] if p else []),
             *([{"field": "model_id", "value": m}] if m else []), *([{"field": "account", "value": a}] if a else []),
             *({"field": f"meta{i}", "value": str(v)} for i, v in enumerate(meta) if v is not None),
             *({"field": k, "value": f"{v:.0f}"} for k, v in acc.items())]
            for (h, p, m, a, *meta), acc in sorted(groups.items(), key=lambda kv: str(kv[0]))
        ]  # fmt: skip
        cap = limit if self.pages_results else min(limit, 10_000)
        query_id = f"q{len(self.results)}"
        self.results[query_id] = rows[:cap]
        return {"queryId": query_id}

    def get_query_results(self, queryId: str, nextToken: str | None = None) -> dict[str, Any]:
        rows = self.results[queryId]
        return {"status": "Complete", "results": rows,
                "statistics": {"recordsMatched": float(len(rows)), "bytesScanned": 1000.0 * len(rows)}}  # fmt: skip

    def stop_query(self, queryId: str) -> dict[str, Any]:
        return {"success": True}


def record(when: datetime, who: str, model: str, tokens: tuple[int, int, int, int], body_fields: int = 0,
           millis: int = 0, error: bool = False) -> tuple[int, str]:  # fmt: skip
    """A Bedrock invocation record with `body_fields` flattened fields of body before its token counts."""
    body = {"messages": [{"role": "user", "content": [{"text": f"part {i}"}]} for i in range(body_fields // 2)]}
    rec: dict[str, Any] = {
        "schemaType": "ModelInvocationLog", "schemaVersion": "1.0",
        "timestamp": when.strftime("%Y-%m-%dT%H:%M:%SZ"), "accountId": "123456789012",
        "identity": {"arn": f"arn:aws:iam::123456789012:user/{who}"}, "region": "us-east-1",
        "requestId": f"{who}-{when.timestamp()}-{millis}-{model}", "operation": "Converse", "modelId": model,
        "input": {"inputContentType": "application/json", "inputBodyJson": body, "inputTokenCount": tokens[0],
                  "cacheReadInputTokenCount": tokens[2], "cacheWriteInputTokenCount": tokens[3]},
        "output": {"outputContentType": "application/json",
                   "outputBodyJson": {"output": {"message": {"content": [{"text": "ok"}]}}},
                   "outputTokenCount": tokens[1]},
    }  # fmt: skip
    if error:
        rec["errorCode"] = "ThrottlingException"
    return int(when.timestamp()) * 1000 + millis, json.dumps(rec)


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(insights.time, "sleep", lambda seconds: None)
    monkeypatch.setattr(insights, "_now", lambda: T0.timestamp())


def serve(monkeypatch: pytest.MonkeyPatch, emulator: Emulator) -> None:
    real = aws.client
    monkeypatch.setattr(aws, "client", lambda service, **k: emulator if service == "logs" else real(service, **k))


def test_bodies_past_the_field_cap_lose_no_tokens(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    base = T0.replace(minute=0) - timedelta(hours=30)
    events = [record(base + timedelta(minutes=7 * i), f"p{i % 3}", "us.anthropic.claude-sonnet-4-6",
                     (1000 + i, 200 + i, 5000 * (i % 2), 300 * (i % 3)), body_fields=600 if i % 2 else 10)
              for i in range(200)]  # fmt: skip
    events.append(record(base, "p0", "amazon.nova-lite-v1:0", (0, 0, 0, 0), error=True))
    emulator = Emulator(events)
    assert len(flatten(json.loads(events[1][1]))) > 500  # the counts of these records are past field 500
    serve(monkeypatch, emulator)
    cloud = read_cloudwatch(CloudWatchOptions(state=str(tmp_path / "s")), T0 - timedelta(days=2), T0)
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.jsonl").write_text("".join(message + "\n" for _, message in events))
    files = read_source("files", (logs,), T0, T0 - timedelta(days=2), CloudWatchOptions())

    def totals(rows: Any) -> tuple[int, ...]:
        return tuple(sum(getattr(r, k) for r in rows) for k in ("invocations", "errors", "input_tokens",
                                                                  "output_tokens", "cache_read_tokens",
                                                                  "cache_write_tokens"))  # fmt: skip

    assert totals(cloud.rows) == totals(files.rows) and totals(cloud.rows)[2] > 0
    assert {r.model_id for r in cloud.rows} == {r.model_id for r in files.rows}
    assert cloud.queries["calls_without_token_counts"] == 0


def test_foreign_events_are_counted_and_reported(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    base = T0.replace(minute=0) - timedelta(hours=5)
    events = [record(base, "ann", "amazon.nova-lite-v1:0", (10, 5, 0, 0))]
    events += [(int(base.timestamp()) * 1000 + i, json.dumps({"message": "health check", "n": i})) for i in range(3)]
    events.append((int(base.timestamp()) * 1000, json.dumps({"schemaType": "ModelInvocationLog", "modelId": "x"})))
    serve(monkeypatch, Emulator(events))
    result = read_cloudwatch(CloudWatchOptions(state=str(tmp_path / "s")), T0 - timedelta(days=1), T0)
    assert sum(r.invocations for r in result.rows) == 1
    assert result.skipped.counts == (("not_an_invocation_record", 4),) and result.queries["foreign_events"] == 4


def test_every_millisecond_lands_in_exactly_one_chunk() -> None:
    day = int(datetime(2026, 11, 25, tzinfo=UTC).timestamp())
    stamps = [day - 1, day, day + 12 * HOUR - 1, day + 12 * HOUR, day + 24 * HOUR - 1]
    events = []
    for second in stamps:
        for millis in (0, 1, 500, 999):
            when = datetime.fromtimestamp(second, UTC)
            events.append(record(when, "ann", "amazon.nova-lite-v1:0", (1, 1, 0, 0), millis=millis))
    emulator = Emulator(events)
    runner = InsightsRunner({"us-east-1": emulator}, ("g",), row_cap=10_000)
    chunks = [Chunk("us-east-1", day - 24 * HOUR, day), Chunk("us-east-1", day, day + 12 * HOUR),
              Chunk("us-east-1", day + 12 * HOUR, day + 24 * HOUR)]  # fmt: skip
    results = runner.run(chunks)
    assert sum(r.invocations for res in results for r in res.rows) == len(events)  # none lost, none twice
    assert all(res.chunk.start <= r.hour < res.chunk.end for res in results for r in res.rows)


def test_a_capped_result_is_detected_on_a_client_that_cannot_page() -> None:
    hour = int(datetime(2026, 11, 25, 3, tzinfo=UTC).timestamp())
    events = [record(datetime.fromtimestamp(hour + (i % 2) * 7 * HOUR, UTC), f"p{i}", "amazon.nova-lite-v1:0",
                     (1, 1, 0, 0)) for i in range(10_050)]  # fmt: skip
    emulator = Emulator(events, pages_results=False)
    runner = InsightsRunner({"us-east-1": emulator}, ("g",), row_cap=50_000)
    assert runner.row_cap == 10_000  # clamped: this client would stop at 10,000 rows without saying so
    results = runner.run([Chunk("us-east-1", hour, hour + 12 * HOUR)])
    assert runner.stats.split >= 1 and sum(r.invocations for res in results for r in res.rows) == 10_050


def test_a_record_delivered_late_is_counted_after_the_recheck(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    late_hour = T0.replace(minute=0) - timedelta(hours=20)
    events = [record(late_hour, "ann", "amazon.nova-lite-v1:0", (100, 10, 0, 0))]
    emulator = Emulator(events)
    serve(monkeypatch, emulator)
    options = CloudWatchOptions(state=str(tmp_path / "s"), recheck_days=(1, 7))

    def run(now: datetime) -> Any:
        monkeypatch.setattr(insights, "_now", lambda: now.timestamp())
        return read_cloudwatch(options, now - timedelta(days=10), now)

    assert sum(r.invocations for r in run(T0).rows) == 1
    emulator.events.append(record(late_hour, "bob", "amazon.nova-lite-v1:0", (50, 5, 0, 0)))  # 20 hours late
    late3 = late_hour - timedelta(days=2)
    emulator.events.append(record(late3, "cy", "amazon.nova-lite-v1:0", (70, 7, 0, 0)))  # arrives 3 days late
    assert sum(r.invocations for r in run(T0 + timedelta(hours=1)).rows) == 1  # settled hours are not re-read
    day_two = run(T0 + timedelta(days=1))  # yesterday is now a day old: read again
    assert sum(r.invocations for r in day_two.rows) == 2 and day_two.queries["late_records_found"] == 1
    assert day_two.queries["recheck_bytes_scanned"] > 0
    for days in range(2, 8):
        found = run(T0 + timedelta(days=days))
    assert sum(r.invocations for r in found.rows) == 3  # the 7-day re-check found the 3-day-late record


def test_log_group_arns_from_other_accounts_use_identifiers() -> None:
    from generator.sources.insights import log_group_argument

    arn = "arn:aws:logs:us-east-1:210987654321:log-group:/aws/bedrock/modelinvocations"
    assert log_group_argument(["/aws/bedrock/modelinvocations"]) == {"logGroupNames": ["/aws/bedrock/modelinvocations"]}
    assert log_group_argument(["/local", arn]) == {"logGroupIdentifiers": ["/local", arn]}


def two_accounts(base: datetime) -> list[tuple[int, str]]:
    events = []
    for account, n in (("123456789012", 3), ("210987654321", 2)):
        for i in range(n):
            stamp, message = record(base + timedelta(minutes=i), "x", "amazon.nova-lite-v1:0", (1000, 100, 0, 0))
            doc = json.loads(message)
            doc["accountId"] = account
            doc["requestId"] = f"{account}-{i}"
            sso = f"arn:aws:sts::{account}:assumed-role/AWSReservedSSO_Dev_0123456789abcdef/alice@example.com"
            doc["identity"]["arn"] = sso
            events.append((stamp, json.dumps(doc)))
    return events


def test_two_accounts_make_one_site(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from generator.build import build
    from generator.config import load_settings

    base = T0.replace(minute=0) - timedelta(hours=6)
    events = two_accounts(base)
    emulator = Emulator(events)
    queried: list[dict[str, Any]] = []
    start_query = emulator.start_query

    def spy(**kwargs: Any) -> dict[str, Any]:
        queried.append(dict(kwargs))
        names = kwargs.pop("logGroupIdentifiers", None) or kwargs.pop("logGroupNames")
        return start_query(logGroupNames=names, **kwargs)

    monkeypatch.setattr(emulator, "start_query", spy)
    serve(monkeypatch, emulator)
    groups = "/aws/bedrock/modelinvocations,arn:aws:logs:us-east-1:210987654321:log-group:/aws/bedrock/modelinvocations"
    settings = load_settings(
        {"source": "cloudwatch", "regions": ("us-east-1",), "state": str(tmp_path / "s"), "now": T0.isoformat(),
         "out": tmp_path / "site", "windows": "1d"},
        environ={"LOG_GROUP": groups}, env_file=None,
    )  # fmt: skip
    result = build(settings)
    assert all("logGroupIdentifiers" in q for q in queried)
    (report,) = result.reports
    assert [u.name for u in report.users] == ["alice@example.com"]  # the same SSO user in both: one person
    assert {a.name: a.counters.invocations for a in report.accounts} == {"123456789012": 3, "210987654321": 2}
    doc = json.loads((tmp_path / "site/data/usage-1d.json").read_text())
    assert {a["account"]: a["invocations"] for a in doc["accounts"]} == {"123456789012": 3, "210987654321": 2}
    assert "By AWS account" in (tmp_path / "site/usage-1d.html").read_text()
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.jsonl").write_text("".join(m + "\n" for _, m in events))
    files = read_source("files", (logs,), T0, T0 - timedelta(days=1), CloudWatchOptions())
    assert {r.account for r in files.rows} == {"123456789012", "210987654321"}


def test_insights_cost_is_priced_per_region() -> None:
    from decimal import Decimal

    from generator.sources.cloudwatch import GB, _scan_cost
    from generator.sources.insights import ChunkResult

    def scanned(region: str) -> ChunkResult:
        return ChunkResult(Chunk(region, 0, HOUR), (), 0.0, float(GB), 0.0)

    results = [scanned("us-east-1"), scanned("ap-northeast-1"), scanned("eu-central-1")]
    assert _scan_cost(results, None) == Decimal("0.005") + Decimal("0.0076") + Decimal("0.005")
    assert _scan_cost(results, Decimal("0.01")) == Decimal("0.03")


def test_accounts_reached_through_roles_are_read_and_stored_apart(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    base = T0.replace(minute=0) - timedelta(hours=6)
    events = two_accounts(base)
    ours = Emulator([e for e in events if '"123456789012"' in e[1]])
    theirs = Emulator([e for e in events if '"210987654321"' in e[1]])
    role = "arn:aws:iam::210987654321:role/bedrock-usage-read"
    made: list[tuple[str, str | None]] = []

    def client(service: str, **kwargs: Any) -> Any:
        made.append((kwargs["region"], kwargs.get("role_arn")))
        return theirs if kwargs.get("role_arn") == role else ours

    monkeypatch.setattr(aws, "client", client)
    options = CloudWatchOptions(state=str(tmp_path / "s"), assume_roles=(role,))
    result = read_cloudwatch(options, T0 - timedelta(days=1), T0)
    assert set(made) == {("us-east-1", None), ("us-east-1", role)}
    assert {r.account: 0 for r in result.rows} == {"123456789012": 0, "210987654321": 0}
    assert sum(r.invocations for r in result.rows) == 5 and result.queries["accounts_through_roles"] == ["210987654321"]
    stored = sorted(p.relative_to(tmp_path / "s").as_posix() for p in (tmp_path / "s").rglob("*.json"))
    assert any(p.startswith("account=210987654321/region=us-east-1/") for p in stored)
    assert any(p.startswith("region=us-east-1/") for p in stored)
    again = read_cloudwatch(options, T0 - timedelta(days=1), T0)
    assert again.rows == result.rows  # each account's partitions read back from its own place


def test_a_role_in_another_account_is_assumed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto import mock_aws

    monkeypatch.setattr(aws, "_ASSUMED", {})
    with mock_aws():
        role = "arn:aws:iam::210987654321:role/bedrock-usage-read"
        logs = aws.client("logs", region="us-east-1", role_arn=role)
        aws.client("logs", region="eu-west-1", role_arn=role)
        assert logs.meta.region_name == "us-east-1" and list(aws._ASSUMED) == [(None, role)]


def test_request_metadata_past_the_field_cap_reaches_the_same_rows_as_files(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    base = T0.replace(minute=0) - timedelta(hours=20)
    events = []
    for i in range(60):
        when, body = base + timedelta(minutes=11 * i), 600 if i % 2 else 4
        stamp, message = record(when, "gateway", "amazon.nova-lite-v1:0", (100 + i, 10, 0, 0), body_fields=body)
        rec = json.loads(message)
        if i % 5:  # after the bodies: past the 200 fields Insights discovers when bodies are logged
            rec["requestMetadata"] = {"user id": f"u{i % 4}", "application_name": "helpdesk", "other": "x"}
        events.append((stamp, json.dumps(rec)))
    serve(monkeypatch, Emulator(events))
    keys = ("application_name", "user id")
    cloud = read_source("cloudwatch", (), T0, T0 - timedelta(days=2),
                        CloudWatchOptions(state=str(tmp_path / "s")), meta_keys=keys)  # fmt: skip
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.jsonl").write_text("".join(message + "\n" for _, message in events))
    files = read_source("files", (logs,), T0, T0 - timedelta(days=2), meta_keys=keys)

    def by_meta(rows: Any) -> dict[str, tuple[int, int]]:
        out: dict[str, tuple[int, int]] = defaultdict(lambda: (0, 0))
        for r in rows:
            out[r.meta] = (out[r.meta][0] + r.invocations, out[r.meta][1] + r.input_tokens)
        return dict(out)

    assert by_meta(cloud.rows) == by_meta(files.rows)
    assert len(by_meta(files.rows)) == 5 and '{"application_name":"helpdesk","user id":"u1"}' in by_meta(files.rows)
    # the store's partitions keep the keys they were read with: other keys read the days again
    again = read_source("cloudwatch", (), T0, T0 - timedelta(days=2),
                        CloudWatchOptions(state=str(tmp_path / "s")), meta_keys=("application_name",))  # fmt: skip
    assert {r.meta for r in again.rows} == {"", '{"application_name":"helpdesk"}'}


def test_a_run_stopped_by_its_deadline_keeps_the_days_it_finished(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A first backfill that passes its deadline keeps each day whose queries finished; the next run asks only for
    the others, and the two runs' rows equal one run's that had time for all."""
    base = T0.replace(hour=0, minute=0) - timedelta(days=6)
    events = [record(base + timedelta(hours=7 * i), f"p{i % 3}", "amazon.nova-lite-v1:0", (100 + i, 10, 0, 0))
              for i in range(6 * 24 // 7)]  # fmt: skip
    emulator = Emulator(events)
    serve(monkeypatch, emulator)
    ticks = iter(range(10**6))
    real = cloudwatch.InsightsRunner
    monkeypatch.setattr(cloudwatch, "InsightsRunner", lambda *a, **k: real(*a, **k, clock=lambda: float(next(ticks))))
    options = CloudWatchOptions(state=str(tmp_path / "s"), concurrency=1, deadline_seconds=4)
    first = read_cloudwatch(options, base, T0)
    kept = len(emulator.scanned)
    assert first.backfill.startswith("backfilling: ") and "the next run reads on from" in first.backfill
    assert "deadline came first" in first.line and 0 < len({r.hour // 86400 for r in first.rows}) < 7
    done = int(first.backfill.split()[1])
    monkeypatch.setattr(cloudwatch, "InsightsRunner", real)
    second = read_cloudwatch(options, base, T0)
    assert second.backfill == "" and len(emulator.scanned) - kept == 7 - done  # only the days not kept
    whole = read_cloudwatch(CloudWatchOptions(state=str(tmp_path / "fresh")), base, T0)
    assert second.rows == whole.rows and sum(r.invocations for r in whole.rows) == len(events)
