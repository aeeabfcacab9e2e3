"""The tests' own writer of every public container Bedrock records arrive in, from a list of records.

Each function writes the same records the way one AWS path writes them (shapes from the AWS documentation
and the CLI's output), so a test can check that every container reads to the same totals as plain JSON
lines. `python -m tests.containers` rewrites tests/fixtures/containers/ (gzip written with mtime 0, so the
bytes repeat).
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures" / "containers"
GROUP, STREAM = "/aws/bedrock/modelinvocations", "aws/bedrock/modelinvocations"


def record(n: int) -> dict[str, Any]:
    """One invocation record (key order as Bedrock writes it varies; this is one order)."""
    return {
        "schemaType": "ModelInvocationLog", "schemaVersion": "1.0",
        "timestamp": f"2026-11-26T{n % 24:02d}:0{n % 6}:00Z",
        "accountId": "123456789012", "identity": {"arn": f"arn:aws:iam::123456789012:user/person{n % 5}"},
        "region": "us-east-1", "requestId": f"req-{n:05d}", "operation": "Converse",
        "modelId": "anthropic.claude-3-haiku-20240307-v1:0",
        "input": {"inputContentType": "application/json", "inputTokenCount": 100 + n,
                  "cacheReadInputTokenCount": n % 3, "cacheWriteInputTokenCount": 0},
        "output": {"outputContentType": "application/json", "outputTokenCount": 20 + n},
    }  # fmt: skip


def _line(rec: dict[str, Any]) -> str:
    return json.dumps(rec, separators=(",", ":"))


def _gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def json_lines(recs: list[dict[str, Any]]) -> bytes:
    return ("\n".join(map(_line, recs)) + "\n").encode()


def firehose(recs: list[dict[str, Any]]) -> bytes:
    """A CloudWatch Logs subscription delivered by Firehose: gzip members, each one DATA_MESSAGE envelope, written
    one after another with no delimiter, after the subscription's CONTROL_MESSAGE."""
    health = {"id": "", "timestamp": 0, "message": "CWL CONTROL MESSAGE: Checking health of destination"}
    control = {"messageType": "CONTROL_MESSAGE", "owner": "CloudwatchLogs", "logGroup": "", "logStream": "",
               "subscriptionFilters": [], "logEvents": [health]}  # fmt: skip
    members = [_gz(json.dumps(control).encode())]
    for start in range(0, len(recs), 7):
        events = [{"id": f"{36000000 + i}", "timestamp": 1764115200000 + i, "message": _line(r)}
                  for i, r in enumerate(recs[start : start + 7], start)]  # fmt: skip
        envelope = {"messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": GROUP, "logStream": STREAM,
                    "subscriptionFilters": ["to-firehose"], "logEvents": events}  # fmt: skip
        members.append(_gz(json.dumps(envelope).encode()))
    return b"".join(members)


def filter_log_events(recs: list[dict[str, Any]]) -> bytes:
    """`aws logs filter-log-events` output (the CLI prints JSON indented by 4)."""
    events = [{"logStreamName": STREAM, "timestamp": 1764115200000 + i, "message": _line(r),
               "ingestionTime": 1764115201000 + i, "eventId": f"{i:056d}"} for i, r in enumerate(recs)]  # fmt: skip
    return json.dumps({"events": events, "searchedLogStreams": []}, indent=4).encode()


def get_log_events(recs: list[dict[str, Any]]) -> bytes:
    """`aws logs get-log-events` output, two pages written one after the other."""
    half = len(recs) // 2
    pages = [{"events": [{"timestamp": 1764115200000 + i, "message": _line(r), "ingestionTime": 1764115201000 + i}
                         for i, r in enumerate(part)], "nextForwardToken": "f/1", "nextBackwardToken": "b/1"}
             for part in (recs[:half], recs[half:])]  # fmt: skip
    return b"\n".join(json.dumps(p, indent=4).encode() for p in pages)


def insights_json(recs: list[dict[str, Any]]) -> bytes:
    """A Logs Insights result exported as JSON: an array of rows, `@message` holding the event."""
    rows = [{"@timestamp": "2026-11-26 00:00:00.000", "@message": _line(r), "@logStream": STREAM} for r in recs]
    return json.dumps(rows, indent=2).encode()


def insights_csv(recs: list[dict[str, Any]]) -> bytes:
    """A Logs Insights result exported as CSV."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["@timestamp", "@message"])
    writer.writerows(["2026-11-26 00:00:00.000", _line(r)] for r in recs)
    return out.getvalue().encode()


def concatenated(recs: list[dict[str, Any]]) -> bytes:
    """Firehose's direct PUT of records with no delimiter: `{...}{...}`."""
    return "".join(map(_line, recs)).encode()


def export_task(recs: list[dict[str, Any]]) -> bytes:
    """A CloudWatch export task's object: gzip lines `<ingestion time> <event>`."""
    return _gz(
        ("\n".join(f"2026-11-26T00:00:{i % 60:02d}.000Z {_line(r)}" for i, r in enumerate(recs)) + "\n").encode()
    )


def utf8_bom(recs: list[dict[str, Any]]) -> bytes:
    return codecs.BOM_UTF8 + json_lines(recs)


def utf16_bom(recs: list[dict[str, Any]]) -> bytes:
    return json_lines(recs).decode().encode("utf-16")  # Python writes the BOM first


# file name -> writer; together they hold every record once
WRITERS: dict[str, Callable[[list[dict[str, Any]]], bytes]] = {
    "firehose/2026/11/26/00/to-s3-1-2026-11-26-00-00-00-abc.gz": firehose,
    "filter-log-events.json": filter_log_events,
    "get-log-events.json": get_log_events,
    "insights-export.json": insights_json,
    "insights-export.csv": insights_csv,
    "firehose-direct-put.json": concatenated,
    "export-task/0123abcd/aws/bedrock/modelinvocations/000000.gz": export_task,
    "bom-utf8.jsonl": utf8_bom,
    "bom-utf16.jsonl": utf16_bom,
}
PER_FILE = 9


def records_for(index: int) -> list[dict[str, Any]]:
    return [record(index * PER_FILE + i) for i in range(PER_FILE)]


def write_all(folder: Path) -> list[dict[str, Any]]:
    """Write each container with its own records, plus an export task's write test; return every record."""
    every = []
    for index, (name, writer) in enumerate(sorted(WRITERS.items())):
        recs = records_for(index)
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(writer(recs))
        every += recs
    (folder / "export-task" / "aws-logs-write-test").write_text("Permission Check Successful")
    return every


if __name__ == "__main__":
    import shutil

    shutil.rmtree(FIXTURES, ignore_errors=True)
    print(f"wrote {len(write_all(FIXTURES))} records in {len(WRITERS)} containers to {FIXTURES}")
