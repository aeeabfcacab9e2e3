"""The Athena statements as SQL, not as strings: every one parses in Athena's dialects, and the day query's logic,
run on DuckDB over the same delivery folders, gives the files source's hourly rows.

Stubs prove which calls are made; these prove the SQL. DuckDB stands in for Trino with a few macros
(from_iso8601_timestamp, to_unixtime, regexp_like), and a view gives the table's columns, partitions and
"$path" from the files as Athena's JSON SerDe and partition projection would.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import duckdb
import pytest
import sqlglot

from generator.sources.athena import OFFLOADS, AthenaOptions, day_query, parse_rows, table_ddl
from generator.sources.demo import write_demo_logs
from generator.sources.files import read_files
from generator.usage import DAY, day_start, utc_days
from tests.conftest import NOW

OPTIONS = AthenaOptions("s3://org-logs/corp/data/bedrock/")  # a "data" folder above the layout is no offload


def test_the_day_query_parses_as_athena_sql_and_backquotes_do_not() -> None:
    query = day_query(OPTIONS, 1_764_547_200, 1_764_547_200 + DAY)
    sqlglot.parse_one(query, read="athena")  # Trino: raises on any syntax it refuses
    with pytest.raises(sqlglot.errors.ParseError):
        sqlglot.parse_one(query.replace('"bedrock_usage"."invocation_logs"', "`bedrock_usage`.`invocation_logs`"),
                          read="athena")  # fmt: skip


def test_the_ddl_parses_as_hive_sql() -> None:
    ddl = table_ddl(OPTIONS, ["123456789012"], ["us-east-1", "eu-west-1"])
    assert sqlglot.parse_one(ddl, read="hive") is not None
    assert "LOCATION 's3://org-logs/corp/data/bedrock/AWSLogs/'" in ddl


@pytest.mark.parametrize("url", ["s3://b/x'y/", "s3://b/a b/", "s3://b/x\\y/", 's3://b/x"y/', "s3://b/x`y/"])
def test_a_location_with_a_quote_never_reaches_the_ddl(url: str) -> None:
    assert any("prefix" in problem for problem in AthenaOptions(url).check())


def _table(con: duckdb.DuckDBPyConnection, root: Path) -> None:
    """The table as Athena sees it: JSON columns (case-insensitive), projected partitions and "$path"."""
    con.execute("""
      CREATE MACRO from_iso8601_timestamp(t) AS CAST(t AS TIMESTAMPTZ);
      CREATE MACRO to_unixtime(t) AS epoch(t);
      CREATE MACRO regexp_like(s, p) AS regexp_matches(s, p);
      CREATE SCHEMA bedrock_usage;
    """)
    files = f"{root}/AWSLogs/*/BedrockModelInvocationLogs/*/*/*/*/*/**/*.json.gz"
    layout = r"AWSLogs/(\d{12})/BedrockModelInvocationLogs/([^/]+)/(\d{4}/\d{2}/\d{2}/\d{2})/"
    con.execute(f"""
      CREATE TABLE bedrock_usage.invocation_logs AS  -- read once; each day query scans it
      SELECT "timestamp", accountId AS accountid, region, requestId AS requestid, modelId AS modelid,
        errorCode AS errorcode, identity, input, output,
        regexp_extract(filename, '{layout}', 1) AS account, regexp_extract(filename, '{layout}', 2) AS logregion,
        regexp_extract(filename, '{layout}', 3) AS hour, 's3://org-logs/' || filename AS "$path"
      FROM read_json('{files}', format = 'newline_delimited', filename = true, union_by_name = true,
        columns = {{"timestamp": 'VARCHAR', accountId: 'VARCHAR', region: 'VARCHAR', requestId: 'VARCHAR',
          modelId: 'VARCHAR', errorCode: 'VARCHAR', identity: 'STRUCT(arn VARCHAR)',
          input: 'STRUCT(inputTokenCount BIGINT, cacheReadInputTokenCount BIGINT, cacheWriteInputTokenCount BIGINT)',
          output: 'STRUCT(outputTokenCount BIGINT)'}})
      WHERE filename NOT LIKE '%permission-check%'
    """)  # fmt: skip


def test_the_day_query_on_duckdb_equals_the_files_source(tmp_path: Path) -> None:
    root = tmp_path / "corp" / "data" / "bedrock"
    write_demo_logs(root, NOW)  # the delivery layout, with body offloads under HH/data/
    expected = read_files((root,))
    con = duckdb.connect()
    _table(con, root)
    first = min(r.hour for r in expected.rows)
    end = max(r.hour for r in expected.rows) + 3600
    found = []
    for day in utc_days(first, end):
        start = max(first, day_start(day))
        stop = min(end, day_start(day) + DAY)
        result = con.execute(day_query(OPTIONS, start, stop)).fetchall()
        cells = ([None if v is None else str(v).lower() if isinstance(v, bool) else str(v) for v in row]
                 for row in result)  # fmt: skip
        found += parse_rows(iter(cells), start, stop, f"day {day}")
    assert expected.rows and sorted(found) == sorted(expected.rows)
    assert OFFLOADS in day_query(OPTIONS, first, first + 3600)
    assert timedelta(seconds=end - first) > timedelta(days=30)  # the demo spans many days and hours
