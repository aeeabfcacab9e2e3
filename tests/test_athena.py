"""The athena source: table and query text, a run end to end in moto, and failures through Stubber.

moto runs the Athena plumbing (StartQueryExecution, GetQueryExecution, StopQueryExecution, results
queued through its API) but executes no SQL, so the table and query text are checked as text and the
results are recorded responses. Failure states, paging and the deadline use botocore's Stubber,
since moto's queries always succeed at once.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws
from moto.athena.models import QueryResults, athena_backends

from generator.config import load_settings
from generator.errors import ConfigError, SourceError
from generator.site.decisions import spread_start
from generator.sources import athena
from generator.sources.athena import AthenaOptions, AthenaRunner, day_query, read_athena, table_ddl
from generator.usage import RowTable, make_windows, utc_days
from tests.conftest import NOW, NOW_ISO, ROOT

LOGS = "s3://org-logs/bedrock"
START = datetime(2026, 11, 25, 7, tzinfo=UTC)
HOUR = 3600


def epoch(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


def options(tmp_path: Path, **kw: Any) -> AthenaOptions:
    return AthenaOptions(LOGS, output="s3://org-logs/athena-results/", region="us-east-1",
                         state=str(tmp_path / "state"), **kw)  # fmt: skip


def test_table_projects_the_delivery_layout() -> None:
    ddl = table_ddl(AthenaOptions(LOGS), ["123456789012", "210987654321"], ["eu-west-1", "us-east-1"])
    assert "CREATE EXTERNAL TABLE IF NOT EXISTS `bedrock_usage`.`invocation_logs`" in ddl
    assert "LOCATION 's3://org-logs/bedrock/AWSLogs/'" in ddl
    assert "'projection.account.values' = '123456789012,210987654321'" in ddl
    assert "'projection.logregion.values' = 'eu-west-1,us-east-1'" in ddl
    assert "'projection.hour.format' = 'yyyy/MM/dd/HH'" in ddl and "'projection.hour.interval.unit' = 'HOURS'" in ddl
    assert ("'storage.location.template' = 's3://org-logs/bedrock/AWSLogs/${account}/BedrockModelInvocationLogs/"
            "${logregion}/${hour}/'") in ddl  # fmt: skip
    assert "PARTITIONED BY (`account` string, `logregion` string, `hour` string)" in ddl
    assert "org.openx.data.jsonserde.JsonSerDe" in ddl and "'ignore.malformed.json' = 'true'" in ddl


def test_day_query_reads_the_day_and_an_hour_either_side_counting_each_request_once() -> None:
    sql = day_query(AthenaOptions(LOGS), epoch("2026-11-26T00:00:00"), epoch("2026-11-27T00:00:00"))
    assert "hour >= '2026/11/25/23' AND hour < '2026/11/27/01'" in sql  # partitions pruned to 26 folders
    assert f"hour_start >= {epoch('2026-11-26T00:00:00')} AND hour_start < {epoch('2026-11-27T00:00:00')}" in sql
    assert "SELECT DISTINCT coalesce(requestid, cast(uuid() AS varchar))" in sql
    assert (
        "NOT regexp_like(\"$path\", '/BedrockModelInvocationLogs/[^/]+/[0-9]{4}/[0-9]{2}/[0-9]{2}/[0-9]{2}/data/')"
        in sql
    )  # body offloads are not records; a "data" folder above the layout is no offload
    assert "GROUP BY 1, 2, 3, 4, 5, 6" in sql
    assert "WHEN coalesce(input.inputtokencount, 0)" in sql and "> 272000 THEN 272000" in sql


def _result(*rows: list[str]) -> QueryResults:
    header = ["hour", "principal", "modelid", "call_region", "call_account", "prompt_over", "invocations", "errors",
              "input_tokens", "output_tokens", "cache_read", "cache_write"]  # fmt: skip
    return QueryResults(
        rows=[{"Data": [{"VarCharValue": v} for v in row]} for row in [header, *rows]],
        column_info=[{"Name": h, "Type": "varchar"} for h in header],
    )


def _row(hour: str, who: str, calls: int = 2) -> list[str]:
    return [str(epoch(hour)), f"arn:aws:iam::123456789012:user/{who}", "amazon.nova-lite-v1:0", "us-east-1",
            "123456789012", "0", str(calls), "1", "100", "50", "0", "0"]  # fmt: skip


@pytest.fixture
def aws() -> Iterator[Any]:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="org-logs")
        s3.put_object(Bucket="org-logs", Key="bedrock/AWSLogs/123456789012/BedrockModelInvocationLogs/us-east-1/"
                      "2026/11/26/10/x.json.gz", Body=gzip.compress(b"{}\n"))  # fmt: skip
        yield boto3.client("athena", region_name="us-east-1"), s3


def _queries(client: Any) -> list[str]:
    ids = client.list_query_executions()["QueryExecutionIds"]
    return [client.get_query_execution(QueryExecutionId=i)["QueryExecution"]["Query"] for i in ids]


def test_a_run_end_to_end_then_only_unsettled_hours(aws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    client, s3 = aws
    monkeypatch.setattr(athena.time, "sleep", lambda s: None)
    queue = athena_backends["123456789012"]["us-east-1"].query_results_queue
    ddl = [QueryResults(rows=[], column_info=[]) for _ in range(3)]  # moto assigns results when a query starts
    queue += [*ddl, _result(_row("2026-11-25T10:00:00", "ann")),
              _result(_row("2026-11-26T09:00:00", "ann"), _row("2026-11-26T09:00:00", "bob", 3)),
              _result(_row("2026-11-27T04:00:00", "cy"), _row("2026-11-27T06:00:00", "cy"))]  # fmt: skip
    first = read_athena(options(tmp_path), START, NOW, client, s3)
    assert [(r.hour, r.principal.rsplit("/", 1)[1], r.invocations) for r in first.rows] == [
        (epoch("2026-11-25T10:00:00"), "ann", 2), (epoch("2026-11-26T09:00:00"), "ann", 2),
        (epoch("2026-11-26T09:00:00"), "bob", 3), (epoch("2026-11-27T04:00:00"), "cy", 2),
        (epoch("2026-11-27T06:00:00"), "cy", 2),
    ]  # fmt: skip
    sent = _queries(client)
    assert sent[0] == "CREATE DATABASE IF NOT EXISTS `bedrock_usage`"
    assert sent[1].startswith("DROP TABLE IF EXISTS") and sent[2].startswith("CREATE EXTERNAL TABLE")
    assert len(sent) == 6 and first.queries["days_queried"] == ["2026-11-25", "2026-11-26", "2026-11-27"]

    # The next run: settled days are not queried again, nor is the table; today from the settled hour on.
    queue.append(_result(_row("2026-11-27T06:00:00", "cy", 5)))
    second = read_athena(options(tmp_path), START, NOW, client, s3)
    again = _queries(client)[6:]
    assert len(again) == 1 and f"hour_start >= {epoch('2026-11-27T05:00:00')}" in again[0]
    assert [(r.principal.rsplit("/", 1)[1], r.invocations) for r in second.rows][-2:] == [("cy", 2), ("cy", 5)]
    assert isinstance(first.rows, RowTable) and isinstance(second.rows, RowTable)  # 80 bytes a row, not 580


def _stubbed(*executions: dict[str, Any], stopped: bool = False) -> tuple[Any, Stubber]:
    """A stubbed client that starts `SELECT 1`, answers these polls, and (if `stopped`) expects it stopped."""
    client = boto3.client("athena", region_name="us-east-1")
    stub = Stubber(client)
    if executions:
        stub.add_response("start_query_execution", {"QueryExecutionId": "q-1"},
                          {"QueryString": "SELECT 1", "WorkGroup": "primary", "ResultConfiguration": ANY})  # fmt: skip
    for execution in executions:
        stub.add_response("get_query_execution", execution)
    if stopped:
        stub.add_response("stop_query_execution", {}, {"QueryExecutionId": "q-1"})
    return client, stub


def _execution(state: str, reason: str = "", scanned: int = 0) -> dict[str, Any]:
    status: dict[str, Any] = {"State": state}
    if reason:
        status["StateChangeReason"] = reason
    return {"QueryExecution": {"QueryExecutionId": "q-1", "Status": status,
                               "Statistics": {"DataScannedInBytes": scanned}}}  # fmt: skip


def test_the_workgroup_limit_is_one_line_with_what_to_do(tmp_path: Path) -> None:
    reason = "Bytes scanned limit was exceeded. Query cancelled after scanning 10737418240 bytes"
    client, stub = _stubbed(_execution("CANCELLED", reason, 10737418240), stopped=True)
    with stub, pytest.raises(SourceError, match="bytes-scanned limit stopped it: raise the limit") as caught:
        list(AthenaRunner(client, options(tmp_path), sleep=lambda s: None).rows("SELECT 1", "query of 2026-11-26"))
    assert "\n" not in str(caught.value)
    stub.assert_no_pending_responses()


def test_the_deadline_stops_the_running_query(tmp_path: Path) -> None:
    client, stub = _stubbed(_execution("RUNNING"), _execution("RUNNING"), stopped=True)
    ticks = iter([0.0, 5.0, 50.0, 500.0])
    runner = AthenaRunner(client, options(tmp_path, deadline_seconds=30), sleep=lambda s: None,
                          clock=lambda: next(ticks))  # fmt: skip
    with stub, pytest.raises(SourceError, match="passed the 30 s deadline; stopped it"):
        runner.execute("SELECT 1", "query of 2026-11-26")
    stub.assert_no_pending_responses()


def test_ctrl_c_stops_the_running_query(tmp_path: Path) -> None:
    client, stub = _stubbed(_execution("RUNNING"), stopped=True)

    def interrupt(seconds: float) -> None:
        raise KeyboardInterrupt

    with stub, pytest.raises(KeyboardInterrupt):
        AthenaRunner(client, options(tmp_path), sleep=interrupt).execute("SELECT 1", "query")
    stub.assert_no_pending_responses()


def test_results_are_paged_and_an_impossible_row_fails_the_day(tmp_path: Path) -> None:
    client, stub = _stubbed(_execution("SUCCEEDED", scanned=123))
    cells = lambda row: {"Data": [{"VarCharValue": v} for v in row]}  # noqa: E731
    header = cells(["hour"] * 12)
    stub.add_response("get_query_results", {"ResultSet": {"Rows": [header, cells(_row("2026-11-26T01:00:00", "a"))]},
                                            "NextToken": "page-2"})  # fmt: skip
    stub.add_response("get_query_results", {"ResultSet": {"Rows": [cells(_row("2026-11-26T02:00:00", "b"))]}})
    first, stop = epoch("2026-11-26T00:00:00"), epoch("2026-11-27T00:00:00")
    runner = AthenaRunner(client, options(tmp_path), sleep=lambda s: None)
    with stub:
        rows = athena.parse_rows(runner.rows("SELECT 1", "q"), first, stop, "q")
    assert [r.principal[-1] for r in rows] == ["a", "b"] and runner.bytes_scanned == 123
    assert runner.billed_bytes == 10 * 1000**2  # Athena bills at least 10 MB a query
    bad = _row("2026-11-26T01:00:00", "a")
    bad[7] = "9"  # more errors than calls
    with pytest.raises(SourceError, match="row 1 of q is invalid"):
        athena.parse_rows(iter([bad]), first, stop, "q")
    with pytest.raises(SourceError, match="invalid"):
        athena.parse_rows(iter([_row("2026-11-28T01:00:00", "a")]), first, stop, "q")  # outside the day


@pytest.mark.parametrize(
    ("cli", "message"),
    [
        ({"source": "athena"}, "exactly one --logs s3://"),
        ({"source": "athena", "logs": ("/tmp/x",)}, "--source athena reads S3"),
        ({"source": "athena", "logs": (LOGS,), "athena_database": "Bad-Name"}, "ATHENA_DATABASE"),
        ({"source": "athena", "logs": (LOGS,), "athena_output": "http://x"}, "ATHENA_OUTPUT"),
    ],
)
def test_athena_settings_are_checked_up_front(cli: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings({**cli, "regions": ("us-east-1",)}, environ={"AWS_REGION": "us-east-1"}, env_file=None)


def test_build_with_athena_over_http(moto_server: str, tmp_path: Path) -> None:
    """`bedrock-usage build --source athena` end to end against moto's HTTP server, results queued through its API."""

    s3 = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1")
    s3.create_bucket(Bucket="org-logs")
    s3.put_object(Bucket="org-logs", Key="bedrock/AWSLogs/123456789012/BedrockModelInvocationLogs/us-east-1/"
                  "2026/11/26/10/x.json.gz", Body=gzip.compress(b"{}\n"))  # fmt: skip
    empty = {"rows": [], "column_info": []}
    day = _result(_row("2026-11-26T09:00:00", "ann"), _row("2026-11-26T10:00:00", "bob", 4))
    windows = make_windows(NOW, ZoneInfo("UTC"))
    first = int(spread_start(windows).timestamp())  # the windows and the periods before them
    days = utc_days(first, int(max(w.end for w in windows).timestamp()))
    before = days.index(datetime(2026, 11, 26).date())
    results = [empty] * (3 + before) + [{"rows": day.rows, "column_info": day.column_info}]
    body = json.dumps({"account_id": "123456789012", "region": "us-east-1", "results": results}).encode()
    request = urllib.request.Request(f"{moto_server}/moto-api/static/athena/query-results", body, method="POST")
    urllib.request.urlopen(request).close()
    env = {**os.environ, "AWS_ENDPOINT_URL": moto_server, "SOURCE": ""}
    command = [sys.executable, "-m", "generator", "build", "--source", "athena", "--logs", LOGS, "--region",
               "us-east-1", "--athena-output", "s3://org-logs/athena-results/", "--now", NOW_ISO, "--state",
               str(tmp_path / "state"), "--out", str(tmp_path / "site"), "--env-file", "/dev/null",
               "--price-list", "off"]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr
    assert f"Athena: {3 + len(days)} queries ({len(days)} days)" in done.stdout
    manifest = json.loads((tmp_path / "site/data/manifest.json").read_text())
    assert manifest["source"].startswith("athena: bedrock_usage.invocation_logs@s3://org-logs/bedrock")
    usage = json.loads((tmp_path / "site/data/usage-7d.json").read_text())
    assert usage["totals"]["invocations"] == 6


def _ddl_answered(monkeypatch: pytest.MonkeyPatch) -> list[QueryResults]:
    """moto's queue of query results with the table's three statements answered; polls do not sleep."""
    monkeypatch.setattr(athena.time, "sleep", lambda s: None)
    queue: list[QueryResults] = athena_backends["123456789012"]["us-east-1"].query_results_queue
    queue += [QueryResults(rows=[], column_info=[]) for _ in range(3)]
    return queue


def test_no_records_from_folders_that_hold_objects_is_one_line(
    aws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, s3 = aws
    _ddl_answered(monkeypatch)

    def scanned_but_empty(self: AthenaRunner, jobs: Any, done: Any, at_once: int) -> list[Any]:
        for key, _, _ in jobs:
            self.bytes_scanned += 5_000_000  # Athena read the delivery folders, and the filter kept nothing
            done(key, [], 5_000_000)
        return []

    monkeypatch.setattr(AthenaRunner, "run_all", scanned_but_empty)
    with pytest.raises(SourceError, match=r"scanned 15.0 MB under s3://org-logs/bedrock but found no invocation"):
        read_athena(options(tmp_path), START, NOW, client, s3)


class _Queries:
    """Athena as run_all sees it: each query succeeds (or fails) on its n-th poll; how many ran at once is noted."""

    def __init__(self, polls: dict[str, int], fail: str = "") -> None:
        self.polls, self.fail = polls, fail
        self.started: list[str] = []
        self.stopped: list[str] = []
        self.running: set[str] = set()
        self.most = 0

    def start_query_execution(self, QueryString: str, **_: Any) -> dict[str, str]:
        self.started.append(QueryString)
        self.running.add(QueryString)
        self.most = max(self.most, len(self.running))
        return {"QueryExecutionId": QueryString}

    def get_query_execution(self, QueryExecutionId: str) -> dict[str, Any]:
        self.polls[QueryExecutionId] -= 1
        state = "RUNNING"
        if self.polls[QueryExecutionId] <= 0:
            state = "FAILED" if QueryExecutionId == self.fail else "SUCCEEDED"
            self.running.discard(QueryExecutionId)
        return {"QueryExecution": {"Status": {"State": state, "StateChangeReason": "boom"},
                                   "Statistics": {"DataScannedInBytes": 1000}}}  # fmt: skip

    def stop_query_execution(self, QueryExecutionId: str) -> dict[str, Any]:
        self.stopped.append(QueryExecutionId)
        self.running.discard(QueryExecutionId)
        return {}

    def get_paginator(self, name: str) -> Any:
        class Pages:
            def paginate(self, QueryExecutionId: str) -> list[Any]:
                return [{"ResultSet": {"Rows": [{"Data": []}, {"Data": [{"VarCharValue": QueryExecutionId}]}]}}]

        return Pages()


def test_day_queries_run_a_few_at_once_in_order_and_each_is_kept_as_it_finishes(tmp_path: Path) -> None:
    client = _Queries({f"q{i}": 5 - i % 3 for i in range(7)})
    finished: list[tuple[int, list[Any], int]] = []
    runner = AthenaRunner(client, options(tmp_path), sleep=lambda s: None)
    left = runner.run_all([(i, f"q{i}", f"day {i}") for i in range(7)], lambda *a: finished.append(a), 3)
    assert left == [] and client.started == [f"q{i}" for i in range(7)] and client.most == 3
    assert sorted(k for k, _, _ in finished) == list(range(7)) and [k for k, _, _ in finished] != list(range(7))
    assert all(rows == [[f"q{k}"]] and scanned == 1000 for k, rows, scanned in finished)
    assert runner.queries == 7 and runner.bytes_scanned == 7000


def test_past_the_deadline_nothing_starts_what_runs_stops_and_the_rest_is_left(tmp_path: Path) -> None:
    client = _Queries({f"q{i}": 3 for i in range(6)})
    ticks = iter(range(1000))
    finished: list[Any] = []
    runner = AthenaRunner(client, options(tmp_path, deadline_seconds=6), sleep=lambda s: None,
                          clock=lambda: next(ticks))  # fmt: skip
    left = runner.run_all([(i, f"q{i}", f"day {i}") for i in range(6)], lambda *a: finished.append(a[0]), 2)
    assert finished and left == [i for i in range(6) if i not in finished]
    assert client.stopped and set(client.stopped) <= {f"q{i}" for i in left} and not client.running


def test_a_failed_day_query_stops_the_others_and_keeps_the_finished_days(tmp_path: Path) -> None:
    client = _Queries({"q0": 1, "q1": 4, "q2": 9, "q3": 9}, fail="q1")
    finished: list[Any] = []
    runner = AthenaRunner(client, options(tmp_path), sleep=lambda s: None)
    with pytest.raises(SourceError, match="Athena day 1 failed: boom"):
        runner.run_all([(i, f"q{i}", f"day {i}") for i in range(4)], lambda *a: finished.append(a[0]), 3)
    assert finished == [0] and set(client.stopped) == {"q2", "q3"} and not client.running


def test_an_athena_backfill_past_its_deadline_says_so_and_the_next_run_reads_on(
    aws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, s3 = aws
    queue = _ddl_answered(monkeypatch)
    first = read_athena(options(tmp_path, deadline_seconds=0), START, NOW, client, s3)
    assert first.rows == () and first.backfill.startswith("backfilling: 0 of 3 days of logs read; the next run")
    assert first.queries["days_unread"] == 3 and "deadline came first" in first.line
    queue += [_result(_row("2026-11-25T10:00:00", "ann")), _result(_row("2026-11-26T09:00:00", "bob")),
              _result(_row("2026-11-27T04:00:00", "cy"))]  # fmt: skip
    second = read_athena(options(tmp_path), START, NOW, client, s3)
    assert not second.backfill and len(second.rows) == 3 and second.queries["days_unread"] == 0


def test_request_metadata_columns_reach_the_rows() -> None:
    sql = day_query(AthenaOptions(LOGS, meta_keys=("team", "user_id")), epoch("2026-11-26T00:00:00"),
                    epoch("2026-11-27T00:00:00"))  # fmt: skip
    assert "substr(element_at(requestmetadata, 'user_id'), 1, 256) AS meta1" in sql
    assert "GROUP BY 1, 2, 3, 4, 5, 6, 13, 14" in sql
    assert "`requestmetadata` map<string,string>" in table_ddl(AthenaOptions(LOGS), ["123456789012"], ["us-east-1"])
    row = _row("2026-11-26T09:00:00", "gw")
    rows = athena.parse_rows(iter([[*row, "search", None], [*row, None, "u1"]]), epoch("2026-11-26T00:00:00"),
                             epoch("2026-11-27T00:00:00"), "a day", ("team", "user_id"))  # fmt: skip
    assert [r.meta for r in rows] == ['{"team":"search"}', '{"user_id":"u1"}']
    with pytest.raises(SourceError, match="wrong column count"):
        athena.parse_rows(iter([row]), 0, 2**40, "a day", ("team",))
