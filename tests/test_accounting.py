"""Numbers you can act on: each record once, nothing ignored silently, hostile input bounded, unpriced never $0."""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from generator.counters import Counters
from generator.errors import SourceError
from generator.modelids import parse_model_id
from generator.pricing import load_book
from generator.pricing.cost import cost_of
from generator.sources.files import read_files
from generator.usage import HourlyRow, usage_counts
from tests.conftest import ROOT
from tests.test_sources import ARN, lines, record


def test_overlapping_paths_and_links_read_each_file_once(tmp_path: Path) -> None:
    sub = tmp_path / "logs" / "sub"
    sub.mkdir(parents=True)
    (sub / "a.jsonl").write_bytes(lines(record(), record()))
    (tmp_path / "logs" / "link.jsonl").symlink_to(sub / "a.jsonl")
    result = read_files((tmp_path / "logs", sub / "a.jsonl"))
    assert result.records == 2 and result.rows[0].invocations == 2
    assert dict(result.ignored.counts) == {"same_file_again": 2}


def test_a_copied_file_counts_once_by_request_id(tmp_path: Path) -> None:
    data = lines(*[record(ts=f"2026-11-20T10:{m:02d}:00Z") for m in range(30)])
    (tmp_path / "a.jsonl").write_bytes(data)
    (tmp_path / "copy of a.jsonl").write_bytes(data)
    (tmp_path / "more.jsonl").write_bytes(lines(record(), json.loads(data.splitlines()[3])))
    result = read_files((tmp_path,), workers=2)
    assert result.records == 31 and result.duplicates == 31
    assert sum(r.invocations for r in result.rows) == 31
    assert sum(r.input_tokens for r in result.rows) == 31 * 10


def test_a_fully_duplicated_hour_leaves_no_empty_row(tmp_path: Path) -> None:
    rec = record(ts="2026-11-20T09:00:00Z")
    (tmp_path / "a.jsonl").write_bytes(lines(record(), rec))
    (tmp_path / "b.jsonl").write_bytes(lines(rec))
    result = read_files((tmp_path,))
    assert [r.invocations for r in result.rows] == [1, 1] and result.duplicates == 1


def test_cloudwatch_export_task_files_and_pretty_records_are_read(tmp_path: Path) -> None:
    export = b"".join(b"2026-11-20T10:00:00.000Z " + json.dumps(record()).encode() + b"\n" for _ in range(3))
    (tmp_path / "000000.gz").write_bytes(gzip.compress(export))
    (tmp_path / "bedrock.log").write_bytes(lines(record()))
    (tmp_path / "one.json").write_text(json.dumps(record(), indent=2))
    (tmp_path / "jq-output.json").write_text(json.dumps(record(), indent=2) + "\n" + json.dumps(record(), indent=2))
    result = read_files((tmp_path,))
    assert result.records == 3 + 1 + 1 + 2 and result.skipped.total == 0 and result.ignored.total == 0


def test_files_not_read_are_counted_and_named(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_bytes(lines(record()))
    (tmp_path / "README.md").write_text("# notes")
    (tmp_path / "empty.json").write_bytes(b"")
    os.mkfifo(tmp_path / "pipe.jsonl")
    (tmp_path / "zero.jsonl").symlink_to("/dev/zero")
    result = read_files((tmp_path,))
    assert result.records == 1
    assert dict(result.ignored.counts) == {"empty_file": 1, "not_a_regular_file": 2, "not_log_records": 1}
    assert any("README.md" in e for e in result.ignored.examples)


def test_a_fifo_given_directly_never_hangs(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.jsonl")
    with pytest.raises(SourceError, match=r"no Bedrock invocation records in .*not_a_regular_file 1"):
        read_files((tmp_path / "pipe.jsonl",))


def test_an_empty_folder_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=f"no Bedrock invocation records in {tmp_path}: 0 files"):
        read_files((tmp_path,))


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (b'{"timestamp":"2026-11-20T10:00:00Z","identity":{"arn":"a"},"modelId":"m","x":' + b"[" * 1000 + b"]" * 1000
         + b"}", "too_deeply_nested"),
        (json.dumps(record(input={"inputTokenCount": 10**30})).encode(), "bad_token_count"),
        (json.dumps(record(input={"inputTokenCount": 2**40 + 1})).encode(), "bad_token_count"),
        (json.dumps(record(modelId="m" * 1025)).encode(), "name_too_long"),
        (json.dumps(record(identity={"arn": ARN + "x" * 1100})).encode(), "name_too_long"),
        (json.dumps(record(modelId="")).encode(), "invalid_field"),
    ],
    ids=["nested-1000", "count-1e30", "count-over-2^40", "model-1025", "arn-1100", "model-empty"],
)  # fmt: skip
def test_hostile_records_are_counted_skips(tmp_path: Path, bad: bytes, reason: str) -> None:
    (tmp_path / "x.jsonl").write_bytes(lines(record(), bad, record()))
    result = read_files((tmp_path,))
    assert result.records == 2 and dict(result.skipped.counts) == {reason: 1}


def test_a_count_of_2_to_the_40_is_accepted_and_priced(tmp_path: Path) -> None:
    (tmp_path / "x.jsonl").write_bytes(lines(*[record(input={"inputTokenCount": 2**40}) for _ in range(3)]))
    result = read_files((tmp_path,))
    assert result.rows[0].input_tokens == 3 * 2**40


HOSTILE = r"""
import gzip, os, resource, sys, time
resource.setrlimit(resource.RLIMIT_AS, (1_500 << 20, 1_500 << 20))  # address space: a hard ceiling
from pathlib import Path
from generator.errors import SourceError
from generator.sources.files import read_files
root = Path(sys.argv[1]); kind = sys.argv[2]
if kind == "newline-bomb":
    with gzip.open(root / "bomb.jsonl.gz", "wb", compresslevel=9) as fh:
        for _ in range(2048):
            fh.write(b"\n" * (1 << 20))
elif kind == "long-line":
    (root / "long.jsonl").write_bytes(b'{"x":"' + b"a" * (40 << 20) + b'"}\n' + sys.argv[3].encode() + b"\n")
elif kind == "junk-lines":
    with gzip.open(root / "junk.jsonl.gz", "wb", compresslevel=9) as fh:
        for _ in range(200):
            fh.write(b"{x\n" * 100_000)
start = time.monotonic()
try:
    result = read_files((root,), workers=1)
    print("records", result.records, dict(result.skipped.counts), dict(result.ignored.counts))
except SourceError as exc:
    print("error", exc)
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss >> 10
print("rss_mb", rss, "seconds", round(time.monotonic() - start, 1))
"""


@pytest.mark.parametrize("kind", ["newline-bomb", "long-line", "junk-lines"])
def test_hostile_files_stay_bounded_in_memory_and_time(tmp_path: Path, kind: str) -> None:
    good = json.dumps(record())
    done = subprocess.run(
        [sys.executable, "-c", HOSTILE, str(tmp_path), kind, good],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rss = int(done.stdout.split("rss_mb ")[1].split()[0])
    assert rss < 500, done.stdout
    if kind == "long-line":
        assert "records 1 {'line_too_long': 1}" in done.stdout
    elif kind == "junk-lines":
        assert "not_log_records 1" in done.stdout and "malformed_json 10001" in done.stdout
    else:
        assert "no Bedrock invocation records" in done.stdout


def costed(model: str, **counts: int) -> Counters:
    row = HourlyRow(1795168800, "p", model, counts.pop("invocations", 1), 0, *(counts.get(k, 0) for k in (
        "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")))  # fmt: skip
    c = cost_of(row, parse_model_id(model), load_book())
    return Counters(*usage_counts(row), c.cost, c.unpriced_tokens, c.unpriced_invocations)


@pytest.mark.parametrize(
    ("model", "counts", "cost", "unpriced_calls", "complete", "shown"),
    [
        ("acme.image-maker-v1:0", {"invocations": 4}, "0", 4, False, "unpriced"),
        ("amazon.nova-reel-v1:0", {"invocations": 2}, "0", 2, False, "unpriced"),  # per second: no seconds logged
        ("arn:aws:bedrock:us-east-1:1:provisioned-model/x", {"input_tokens": 1000}, "0", 1, False, "unpriced"),
        ("amazon.nova-canvas-v1:0", {"invocations": 4}, "0.16", 0, True, "$0.16"),  # per image
        ("amazon.nova-lite-v1:0", {"input_tokens": 1_000_000}, "0.06", 0, True, "$0.06"),
        ("amazon.nova-lite-v1:0", {"invocations": 3}, "0", 0, True, "$0.00"),  # failed calls: truly $0
        ("meta.llama3-1-70b-instruct-v1:0", {"input_tokens": 1_000_000, "cache_read_tokens": 5}, "0.72", 0, False,
         "$0.72 + unpriced"),
    ],
)  # fmt: skip
def test_unpriced_usage_is_never_a_plain_zero(
    model: str, counts: dict[str, int], cost: str, unpriced_calls: int, complete: bool, shown: str
) -> None:
    from generator.site.render import format_cost

    c = costed(model, **counts)
    assert (c.cost, c.unpriced_invocations, c.cost_complete) == (Decimal(cost), unpriced_calls, complete)
    assert format_cost(c) == shown


def test_csv_leaves_cost_empty_when_nothing_was_priced(demo_site: Path) -> None:
    rows = list(csv.DictReader(io.StringIO((demo_site / "data/usage-30d.csv").read_text())))
    canvas = [r for r in rows if r["model"] == "provisioned-model/q7h2k9x4m1ab"]
    assert canvas and all(r["cost_usd"] == "" and r["cost_complete"] == "false" for r in canvas)
    assert all(int(r["unpriced_invocations"]) == int(r["invocations"]) for r in canvas)
    priced = [r for r in rows if r["model"] == "amazon.nova-lite-v1:0"]
    assert all(r["cost_complete"] == "true" and Decimal(r["cost_usd"]) > 0 for r in priced)


def test_every_counter_set_carries_the_unpriced_contract(demo_site: Path) -> None:
    doc: dict[str, Any] = json.loads((demo_site / "data/usage-30d.json").read_text())
    person = json.loads((demo_site / "data" / doc["users"][0]["person_file"]).read_text())
    sets = [doc["totals"], *doc["users"], *doc["models"], *person["models"], *person["windows"].values()]
    sets += [c["previous"] for c in (doc["totals"], *doc["users"], *doc["models"]) if c["previous"]]
    sets += [r for m in doc["models"] for r in m["routes"]]
    sets += [v for values in doc["tags"].values() for v in values] + [v for u in doc["users"] for v in u["via"]]
    assert doc["tags"] and any(u["via"] for u in doc["users"])  # the demo's metadata and profile calls
    for counters in sets:
        assert counters["cost_complete"] == (counters["unpriced_tokens"] == counters["unpriced_invocations"] == 0)
    canvas = next(m for m in doc["models"] if m["model"] == "provisioned-model/q7h2k9x4m1ab")
    assert canvas["cost_usd"] == 0 and canvas["unpriced_invocations"] == canvas["invocations"] > 0
    assert doc["totals"]["cost_complete"] is False and doc["schema_version"] == 7


def test_matrix_never_shows_a_dash_or_zero_for_unpriced_use(demo_site: Path) -> None:
    html = (demo_site / "matrix-30d.html").read_text()
    assert 'class="n cell-unpriced" data-sort="0">unpriced</td>' in html
    assert "+ unpriced</td>" in html  # a person's total and the grand total miss the unpriced part


def test_legacy_input_is_input_plus_cache_write(demo_site: Path) -> None:
    doc = json.loads((demo_site / "data/usage-7d.json").read_text())
    t = doc["totals"]
    assert doc["total_input_tokens"] == t["input_tokens"] + t["cache_write_tokens"]
    for m in doc["models"]:
        assert doc["model_tokens"][m["model"]]["input"] == m["input_tokens"] + m["cache_write_tokens"]


def test_long_names_are_shortened_on_pages_and_whole_in_json(make_settings: Any, tmp_path: Path) -> None:
    from generator.build import build

    name = "n" * 990  # the ARN stays under the 1,024-character bound
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "x.jsonl").write_bytes(lines(record(name, ts="2026-11-27T05:00:00Z")))
    build(make_settings(logs=(tmp_path / "logs",), windows="7d"))
    page = (tmp_path / "site/usage-7d.html").read_text()
    assert "n" * 255 + "…" in page and "n" * 257 not in page.replace(f'title="{name}"', "")
    assert "n" * 257 not in (tmp_path / "site/matrix-7d.html").read_text()
    doc = json.loads((tmp_path / "site/data/usage-7d.json").read_text())
    assert doc["users"][0]["name"] == name and doc["identities"][0]["person"] == name


def test_an_empty_logs_folder_fails_and_writes_nothing(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from generator.cli import cli

    (tmp_path / "logs").mkdir()
    out = tmp_path / "site"
    result = CliRunner().invoke(cli, ["build", "--logs", str(tmp_path / "logs"), "--out", str(out)])
    assert result.exit_code == 1 and f"no Bedrock invocation records in {tmp_path / 'logs'}" in result.output
    assert len(result.output.strip().splitlines()) == 1 and not out.exists()


def test_strict_fails_on_files_that_were_not_read(make_settings: Any, tmp_path: Path) -> None:
    from generator.build import build
    from generator.errors import IncompleteDataError

    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "a.jsonl").write_bytes(lines(record()))
    (tmp_path / "logs" / "notes.txt").write_text("not a log")
    with pytest.raises(IncompleteDataError, match=r"files under --logs were not read \(not_log_records 1\)"):
        build(make_settings(logs=(tmp_path / "logs",), strict=True))
    result = build(make_settings(logs=(tmp_path / "logs",)))
    assert "1 file not read (not_log_records 1; first: " in result.summary()


def test_a_request_id_counts_once_across_files_and_hours(tmp_path: Path) -> None:
    from generator.sources.files import read_files
    from tests.containers import json_lines, record

    first = record(1)
    later = {**first, "timestamp": "2026-11-26T05:59:00Z"}  # the same request, delivered again hours later
    (tmp_path / "a.jsonl").write_bytes(json_lines([first, record(2)]))
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "c.jsonl").write_bytes(json_lines([later, record(3)]))
    found = read_files((tmp_path,))
    assert (found.records, found.duplicates) == (3, 1)
    assert sum(r.invocations for r in found.rows) == 3
    assert {r.hour % 86400 // 3600 for r in found.rows} == {1, 2, 3}  # the first copy's hour is the one kept
