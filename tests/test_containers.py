"""Every container records arrive in reads to the same rows as plain JSON lines, and hostile bytes never stop
a run: each fault is a counted skip, lost records are counted as lost, and memory stays bounded."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from generator.sources.files import read_files
from tests import containers
from tests.conftest import ROOT

GOOD = containers.record(1)


def _lines(*recs: dict[str, object] | bytes) -> bytes:
    return b"\n".join(r if isinstance(r, bytes) else json.dumps(r).encode() for r in recs) + b"\n"


def test_the_fixtures_are_what_the_generator_writes(tmp_path: Path) -> None:
    containers.write_all(tmp_path)
    written = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    committed = sorted(p.relative_to(containers.FIXTURES) for p in containers.FIXTURES.rglob("*") if p.is_file())
    assert written == committed
    assert all((tmp_path / p).read_bytes() == (containers.FIXTURES / p).read_bytes() for p in written)


def test_a_folder_of_every_container_equals_the_same_records_as_json_lines(tmp_path: Path) -> None:
    every = containers.write_all(tmp_path / "mixed")
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "all.jsonl").write_bytes(containers.json_lines(every))
    mixed, plain = read_files((tmp_path / "mixed",)), read_files((tmp_path / "plain",))
    assert plain.records == len(every) == 81
    assert mixed.rows == plain.rows and mixed.records == plain.records
    assert mixed.skipped.total == 0
    assert dict(mixed.ignored.counts) == {"export_write_test_object": 1}


@pytest.mark.parametrize("name", sorted(containers.WRITERS))
def test_each_container_alone(tmp_path: Path, name: str) -> None:
    recs = containers.records_for(0)
    (tmp_path / "f").write_bytes(containers.WRITERS[name](recs))
    found = read_files((tmp_path,))
    assert (found.records, found.skipped.total, found.ignored.total) == (len(recs), 0, 0)


def test_one_bad_byte_or_clock_is_one_counted_skip(tmp_path: Path) -> None:
    line = json.dumps(GOOD).encode()
    bad_utf8 = line.replace(b"req-00001", b"req-2").replace(b"person1", b"a\xc3\x28")
    bad_clock = line.replace(b"req-00001", b"req-3").replace(b"2026-11-26T01:01:00Z", b"0001-01-01T00:00:00+23:59")
    far = line.replace(b"req-00001", b"req-4").replace(b"2026-11-26T01:01:00Z", b"9999-12-31T23:59:59Z")
    (tmp_path / "x.jsonl").write_bytes(_lines(line, bad_utf8, bad_clock, far))
    with gzip.open(tmp_path / "y.json.gz", "wb") as out:
        out.write(_lines(line.replace(b"req-00001", b"req-5"), bad_utf8.replace(b"req-2", b"req-6")))
    found = read_files((tmp_path,))
    assert found.records == 2
    assert dict(found.skipped.counts) == {"invalid_field": 2, "invalid_utf8": 2}


def test_a_cut_gzip_is_a_loss_not_one_skip(tmp_path: Path) -> None:
    whole = gzip.compress(_lines(*(containers.record(n) for n in range(400))), mtime=0)
    (tmp_path / "cut.json.gz").write_bytes(whole[: len(whole) // 2])
    found = read_files((tmp_path,))
    assert found.skipped.total == 0 and 0 < found.records < 400
    assert dict(found.ignored.counts) == {"rest_of_file_unreadable": 1}


READ_UNDER_A_LIMIT = """
import json, resource, sys
from pathlib import Path
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))  # 1 GiB of address space: a leak dies here
from generator.sources.files import read_files
found = read_files((Path(sys.argv[1]),))
# VmHWM belongs to this program's memory map; ru_maxrss would keep the forking pytest worker's high-water mark
peak = int(next(line for line in open("/proc/self/status") if line.startswith("VmHWM")).split()[1]) // 1024
print(json.dumps({"records": found.records, "skipped": found.skipped.total, "ignored": dict(found.ignored.counts),
                  "peak_mb": peak}))
"""


def test_hostile_inputs_under_a_memory_limit(tmp_path: Path) -> None:
    # 20M empty objects in one JSON array: under 1 MB gzip, 60 MB inflated
    with gzip.open(tmp_path / "bomb.json.gz", "wb", compresslevel=9) as out:
        for _ in range(20):
            out.write((b"[" if _ == 0 else b"") + b"{}," * 1_000_000)
        out.write(b"{}]")
    (tmp_path / "deep.json").write_bytes(b"[" * 100_000 + b"]" * 100_000)
    (tmp_path / "bad.jsonl").write_bytes(b'{"timestamp":"0001-01-01T00:00:00+23:59","arn":"a\xc3\x28"}\n')
    (tmp_path / "good.jsonl").write_text(json.dumps(GOOD) + "\n")
    done = subprocess.run([sys.executable, "-c", READ_UNDER_A_LIMIT, str(tmp_path)], capture_output=True, text=True,
                          cwd=ROOT, timeout=300, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout)
    assert found["records"] == 1 and found["skipped"] > 0
    assert found["ignored"] == {"not_log_records": 1, "too_deeply_nested": 1}  # the array: 10,000 non-records end it
    assert found["peak_mb"] < 500, found
