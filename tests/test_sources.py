import gzip
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from generator.errors import SourceError
from generator.modelids import parse_model_id
from generator.sources import read_source
from generator.sources.demo import write_demo_logs
from generator.sources.files import find_log_files, read_files

ARN = "arn:aws:iam::123456789012:user/"


def record(user: str = "ann", ts: str = "2026-11-20T10:15:00Z", **extra: object) -> dict[str, object]:
    rec: dict[str, object] = {
        "schemaType": "ModelInvocationLog", "schemaVersion": "1.0", "timestamp": ts,
        "accountId": "123456789012", "identity": {"arn": ARN + user}, "region": "us-east-1",
        "requestId": str(uuid.uuid4()), "operation": "Converse", "modelId": "amazon.nova-lite-v1:0",
        "input": {"inputContentType": "application/json", "inputBodyJson": {"messages": ["hi " * 300]},
                  "inputTokenCount": 10, "cacheReadInputTokenCount": 2, "cacheWriteInputTokenCount": 1},
        "output": {"outputContentType": "application/json", "outputBodyJson": {"text": "yo"}, "outputTokenCount": 5},
    }  # fmt: skip
    rec.update(extra)
    return rec


def lines(*records: object) -> bytes:
    return b"".join((r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in records)


def s3_object(root: Path, hour: str, name: str, data: bytes) -> Path:
    path = root / "AWSLogs/123456789012/BedrockModelInvocationLogs/us-east-1" / hour / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data))
    return path


def test_reads_the_s3_layout_and_skips_offloads(tmp_path: Path) -> None:
    s3_object(tmp_path, "2026/11/20/10", "20261120T101500000Z_ab.json.gz", lines(record(), record("bob")))
    s3_object(tmp_path, "2026/11/20/10/data", "0f_input.json.gz", b'{"big": "body"}')
    (tmp_path / "amazon-bedrock-logs-permission-check").write_bytes(b"")
    result = read_files((tmp_path,))
    assert result.records == 2 and result.skipped.total == 0
    assert [(r.principal, r.invocations, r.input_tokens, r.cache_read_tokens) for r in result.rows] == [
        (ARN + "ann", 1, 10, 2), (ARN + "bob", 1, 10, 2),
    ]  # fmt: skip
    assert len(find_log_files([tmp_path])) == 1


def test_plain_json_jsonl_and_arrays(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_bytes(lines(record(), record()))
    (tmp_path / "b.json").write_bytes(json.dumps([record(), record()], indent=2).encode())
    (tmp_path / "c.json").write_bytes(lines(record()))
    (tmp_path / "notes.txt").write_text("ignored")
    result = read_files((tmp_path,))
    assert result.records == 5 and result.rows[0].invocations == 5


def test_key_order_and_missing_token_fields(tmp_path: Path) -> None:
    guardrail = record(input={"inputContentType": "application/json"}, output={})
    failed = dict(reversed(list(record(errorCode="ThrottlingException").items())))
    (tmp_path / "x.jsonl").write_bytes(lines(guardrail, failed))
    (row,) = read_files((tmp_path,)).rows
    assert (row.invocations, row.errors, row.input_tokens, row.output_tokens) == (2, 1, 10, 5)


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (b"{not json", "malformed_json"),
        (json.dumps({k: v for k, v in record().items() if k != "identity"}).encode(), "missing_field"),
        (json.dumps({k: v for k, v in record().items() if k != "timestamp"}).encode(), "missing_field"),
        (json.dumps(record(input={"inputTokenCount": -3})).encode(), "bad_token_count"),
        (json.dumps(record(input={"inputTokenCount": "12"})).encode(), "bad_token_count"),
        (json.dumps(record(output={"outputTokenCount": 1.5})).encode(), "bad_token_count"),
        (json.dumps(record(ts="yesterday")).encode(), "invalid_field"),
        (json.dumps(record(ts="2026-11-20T10:15:00")).encode(), "invalid_field"),
        (b"[1, 2]", "invalid_field"),
    ],
)
def test_bad_lines_are_counted_not_fatal(tmp_path: Path, bad: bytes, reason: str) -> None:
    (tmp_path / "x.jsonl").write_bytes(lines(record(), bad, record()))
    result = read_files((tmp_path,))
    assert result.records == 2
    assert dict(result.skipped.counts) == {reason: 1}
    assert result.skipped.examples[0].startswith(f"{tmp_path / 'x.jsonl'}:2: {reason}")


def test_truncated_and_corrupt_gzip(tmp_path: Path) -> None:
    good = gzip.compress(lines(*[record() for _ in range(200)]))
    (tmp_path / "cut.json.gz").write_bytes(good[: len(good) // 2])
    (tmp_path / "junk.json.gz").write_bytes(b"this is not gzip")
    (tmp_path / "ok.json.gz").write_bytes(good)
    result = read_files((tmp_path,))
    assert dict(result.skipped.counts) == {}  # a cut file is no "1 record skipped": its rest is one loss of files
    # named .gz, holds neither gzip nor records; and the cut one, read up to the damage
    assert dict(result.ignored.counts) == {"not_log_records": 1, "rest_of_file_unreadable": 1}
    assert any("cut.json.gz" in e and "lines were read before it" in e for e in result.ignored.examples)
    assert 200 <= result.records < 400  # every record before the damage is kept


def test_missing_path_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file"):
        read_files((tmp_path / "nope",))


def test_demo_is_deterministic_and_in_bedrock_format(tmp_path: Path) -> None:
    now = datetime(2026, 11, 27, 7, tzinfo=UTC)
    write_demo_logs(tmp_path / "a", now)
    write_demo_logs(tmp_path / "b", now)
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert files_a == files_b
    assert all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes() for f in files_a)
    sample = next(f for f in files_a if f.name.endswith(".json.gz") and "data" not in f.parts)
    assert str(sample).startswith("AWSLogs/123456789012/BedrockModelInvocationLogs/us-east-1/")
    first = json.loads(gzip.decompress((tmp_path / "a" / sample).read_bytes()).splitlines()[0])
    assert first["schemaType"] == "ModelInvocationLog" and "arn" in first["identity"]
    assert any("data" in f.parts for f in files_a)
    assert (tmp_path / "a" / "amazon-bedrock-logs-permission-check").stat().st_size == 0


def test_demo_source_content() -> None:
    now = datetime(2026, 11, 27, 7, tzinfo=UTC)
    result = read_source("demo", (), now, now)
    principals = {r.principal for r in result.rows}
    models = {r.model_id for r in result.rows}
    assert result.skipped.total == 0 and result.records > 10_000
    assert {"arn:aws:iam::123456789012:user/peterdir", "arn:aws:iam::123456789012:user/aider",
            "arn:aws:iam::123456789012:user/dirkcli"} <= principals  # fmt: skip
    assert any("assumed-role/bedrock-peterdir/" in p for p in principals)
    assert any("AWSReservedSSO_" in p for p in principals)
    assert len({m for m in models if "claude" in m}) >= 5
    assert {m.split("anthropic.")[0] for m in models if "anthropic." in m} >= {"us.", "eu.", "global."}
    assert any(m.startswith("arn:aws:bedrock:") and "inference-profile/" in m for m in models)
    providers = {parse_model_id(m).model.split(".")[0] for m in models}
    assert {"anthropic", "amazon", "meta", "mistral", "openai"} <= providers
    assert sum(r.errors for r in result.rows) > 0
    assert sum(r.cache_read_tokens for r in result.rows) > 0 and sum(r.cache_write_tokens for r in result.rows) > 0


def test_parallel_read_equals_sequential(tmp_path: Path) -> None:
    for hour in range(40):
        recs = [record(f"u{i % 3}", ts=f"2026-11-20T{hour % 24:02d}:15:00Z") for i in range(hour + 1)]
        body = lines(*recs) + (b"{broken\n" if hour % 7 == 0 else b"")
        s3_object(tmp_path, f"2026/11/{10 + hour // 24:02d}/{hour % 24:02d}", f"f{hour}.json.gz", body)
    one = read_files((tmp_path,), workers=1)
    two = read_files((tmp_path,), workers=2)
    assert one == two
    assert one.records == sum(range(1, 41)) and one.skipped.total == 6


def test_batches_split_by_bytes_and_hours_they_share_add_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Files are cut into batches of about equal bytes, in order; rows of one hour read by two batches (two regions'
    folders, say) are one row; a duplicate found across batches counts once."""
    from generator.sources import files

    copy = record("ann", ts="2026-11-20T10:40:00Z")
    for region in ("us-east-1", "us-west-2"):  # the same hours under two folders: every batch shares them
        for hour in range(6):
            recs = [record(f"u{i % 4}", ts=f"2026-11-20T{10 + hour:02d}:{i:02d}:00Z") for i in range(30)]
            path = tmp_path / f"AWSLogs/1/BedrockModelInvocationLogs/{region}/2026/11/20/{10 + hour:02d}/f.json.gz"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(gzip.compress(lines(*recs, *([copy] if hour == 0 else []))))
    found = files.find_log_files([tmp_path])
    sizes = [p.stat().st_size + 1 for p in found]
    monkeypatch.setattr(files, "BATCH_BYTES", -(-sum(sizes) // 5))
    workers, batches = files.split(found, 2)
    assert workers == 2 and len(batches) == 5
    assert [i for batch in batches for i, _ in batch] == list(range(len(found)))  # every file once, in order
    assert max(sum(sizes[i] for i, _ in b) for b in batches) < 2 * sum(sizes) / 5
    one, many = files.read_files((tmp_path,), workers=1), files.read_files((tmp_path,), workers=2)
    assert one == many
    assert many.records == 2 * 6 * 30 + 1 and many.duplicates == 1
    assert len(many.rows) == 6 * 4 + 1  # four people an hour, and ann: one row each, though two batches read them
    assert sum(r.invocations for r in many.rows) == 2 * 6 * 30 + 1


def test_a_data_folder_above_the_delivery_layout_is_read(tmp_path: Path) -> None:
    from generator.sources.demo import write_demo_logs
    from generator.sources.files import read_files
    from tests.conftest import NOW

    write_demo_logs(tmp_path / "data" / "bedrock", NOW)  # --logs s3://corp/data/... copied down, or a bucket "data"
    found = read_files((tmp_path,))
    assert found.records > 1000
    offloads = dict(found.ignored.counts).get("body_offload_object", 0)
    assert offloads > 0 and all("/data/" in e for e in found.ignored.examples)
