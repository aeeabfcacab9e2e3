"""A big organisation's site: a manifest of 12,000 files is written, read back, rebuilt over and published with
deletes; a site past the manifest's bound is refused before anything is written; a window's JSON grows with
people, not with people x models x days."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from generator.cli import cli
from generator.layout import MANIFEST, MAX_FILES, MAX_MANIFEST, manifest_files
from generator.pricing import load_book
from generator.publish import LocalFile, RemoteObject, plan
from generator.site import write
from generator.site.export import BuildMeta, dump, manifest
from generator.skips import SkipReport

MOMENT = datetime(2026, 11, 27, 7, tzinfo=UTC)

PEOPLE = 6_000  # a page and a JSON file each: 12,000 files


def site(people: int) -> dict[str, bytes]:
    files: dict[str, bytes] = {"index.html": b"<!doctype html>"}
    for i in range(people):
        slug = f"engineer-{i:05d}-{hashlib.sha256(str(i).encode()).hexdigest()[:8]}"
        files[f"person/{slug}.html"] = f"<p>{i}</p>".encode()
        files[f"data/person/{slug}.json"] = f'{{"person": {i}}}'.encode()
    meta = BuildMeta(MOMENT, MOMENT, "test", "0", ("7d",), SkipReport(), 0, load_book())
    files[MANIFEST] = dump(manifest(meta, {p: hashlib.sha256(d).hexdigest() for p, d in files.items()}, (0, 0)))
    return files


def test_a_manifest_of_12000_files_is_read_rebuilt_over_and_published_with_deletes(tmp_path: Path) -> None:
    files = site(PEOPLE)
    assert len(files) > 12_000 and len(files[MANIFEST]) > 1 << 20  # past the old 1 MiB cap
    listed, why = manifest_files(files[MANIFEST])
    assert listed is not None and why == "" and len(listed) == len(files)
    out = tmp_path / "site"
    write.write_site(out, files)
    smaller = site(PEOPLE - 5)  # five people left: a rebuild over the folder removes their files
    write.write_site(out, smaller)
    assert sum(1 for p in out.rglob("*") if p.is_file()) == len(smaller)
    local = {p: LocalFile.of(p, d) for p, d in smaller.items()}
    published = {p: hashlib.sha256(d).hexdigest() for p, d in files.items() if p != MANIFEST}
    remote = {p: RemoteObject(p, '"etag"', published.get(p)) for p in files}
    steps = plan(local, remote, published, delete=True, max_deletes=100)
    assert len(steps.deletes) == 10 and all(s.path.startswith(("person/", "data/person/")) for s in steps.deletes)


def test_the_manifest_bounds_take_a_29000_person_site() -> None:
    assert MAX_FILES >= 2 * 29_000 + 100
    assert len(site(50)[MANIFEST]) / 101 * MAX_FILES < MAX_MANIFEST  # bytes an entry, times the files, fit


def test_a_site_past_the_manifest_bound_is_refused_before_anything_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from generator import build as build_module
    from generator.build import build
    from generator.config import load_settings
    from generator.errors import GeneratorError
    from tests.conftest import NOW_ISO

    monkeypatch.setattr(build_module, "MAX_FILES", 10)
    out = tmp_path / "site"
    with pytest.raises(GeneratorError, match="more files than the 10 a manifest may list"):
        build(load_settings({"out": out, "now": NOW_ISO, "source": "demo"}, environ={}, env_file=None))
    assert not out.exists() and list(tmp_path.iterdir()) == []  # no staging folder left either


def org(tmp_path: Path, people: int, models: int, days: int) -> Path:
    """A folder of logs: `people` who each call `models` models (at most 3) on each of `days` days."""
    lines = []
    for d in range(days):
        for p in range(people):
            for m in range(models):
                stamp = (MOMENT - timedelta(days=d, hours=1 + m)).strftime("%Y-%m-%dT%H:%M:%SZ")
                lines.append(json.dumps({
                    "schemaType": "ModelInvocationLog", "schemaVersion": "1.0", "timestamp": stamp,
                    "accountId": "123456789012", "identity": {"arn": f"arn:aws:iam::123456789012:user/p{p:04d}"},
                    "region": "us-east-1", "requestId": f"{d}-{p}-{m}", "operation": "Converse",
                    "modelId": ("anthropic.claude-3-haiku-20240307-v1:0", "amazon.nova-lite-v1:0",
                                "us.anthropic.claude-sonnet-4-5-20250929-v1:0")[m],
                    "input": {"inputTokenCount": 1000 + p}, "output": {"outputTokenCount": 100 + d},
                }))  # fmt: skip
    logs = tmp_path / f"{people}x{models}x{days}"
    logs.mkdir()
    (logs / "calls.jsonl").write_text("\n".join(lines) + "\n")
    return logs


def built(logs: Path, out: Path, windows: str = "30d") -> Path:
    """The site built from `logs` into `out`."""
    args = ["build", "--source", "files", "--logs", str(logs), "--out", str(out), "--windows", windows]
    result = CliRunner().invoke(cli, [*args, "--now", MOMENT.isoformat(), "--env-file", "/dev/null"])
    assert result.exit_code == 0, result.output
    return out


def window_file(tmp_path: Path, people: int, models: int, days: int) -> int:
    """The size of `usage-30d.json` for `people` who each call `models` models on each of `days` days."""
    out = built(org(tmp_path, people, models, days), tmp_path / f"site-{people}x{models}x{days}")
    doc = json.loads((out / "data/usage-30d.json").read_bytes())
    assert len(doc["users"]) == people and doc["totals"]["invocations"] == people * models * days
    return (out / "data/usage-30d.json").stat().st_size


def test_a_window_file_lists_each_person_once(tmp_path: Path) -> None:
    """200 people on 3 models for 20 days: each person by model and by day (the old dashboard's user_model_costs
    and user_daily_costs, 30 MB at 10,000 people) would add over 100 KB; the days and models themselves add a few.
    A person is named in `users` (name and person file) and in `identities` (principal and person) only."""
    one = window_file(tmp_path, 200, 1, 1)
    many = window_file(tmp_path, 200, 3, 20)
    assert many - one < 12_000, (one, many)
    assert (tmp_path / "site-200x3x20/data/usage-30d.json").read_text().count("p0107") == 4
