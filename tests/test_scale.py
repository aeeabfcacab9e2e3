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


def test_people_days_are_kept_on_disk_in_files_nobody_else_sees(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The widest window's days by person and model (9M of them at 10,000 people) go to unlinked temporary files as
    the cube sums them; the pages read them back, and the files are closed when the site is written."""
    import tempfile

    from generator.site import series

    made: list[object] = []
    real = tempfile.TemporaryFile

    def recorded() -> object:
        f = real(dir=tmp_path / "tmp")
        made.append(f)
        return f

    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(series.tempfile, "TemporaryFile", recorded)
    out = built(org(tmp_path, 40, 3, 20), tmp_path / "site")
    assert len(made) >= 2 and all(f.closed for f in made)  # type: ignore[attr-defined]
    assert list((tmp_path / "tmp").iterdir()) == []  # never a name in the folder
    person = next(p for p in (out / "data/person").iterdir() if "p0007" in p.name)
    doc = json.loads(person.read_bytes())
    assert sum(n for model in doc["daily"] for n in model["invocations"]) == 3 * 20


def test_a_full_disk_stops_the_build_with_one_line_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno
    import tempfile

    from generator.site import series

    real = tempfile.TemporaryFile

    class Full:
        def __init__(self) -> None:
            self.file = real()

        def write(self, data: bytes) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, name: str) -> object:
            return getattr(self.file, name)

    monkeypatch.setattr(series.tempfile, "TemporaryFile", Full)
    logs, out = org(tmp_path, 10, 2, 5), tmp_path / "site"
    args = ["build", "--source", "files", "--logs", str(logs), "--out", str(out), "--windows", "30d"]
    result = CliRunner().invoke(cli, [*args, "--now", MOMENT.isoformat(), "--env-file", "/dev/null"])
    assert result.exit_code == 1, result.output
    assert "could not keep people's daily use in a temporary file" in result.output
    assert "No space left on device" in result.output and "TMPDIR" in result.output
    assert not out.exists()


def test_a_series_is_read_only_when_finished_and_not_after_it_is_closed() -> None:
    import numpy as np

    from generator.site.series import WIDTH, Series

    days = [MOMENT.date() - timedelta(days=i) for i in range(2, -1, -1)]
    s = Series(days)
    one = np.array([0])
    record = np.array([[days[1].toordinal(), *range(1, WIDTH - 1)]])
    s.add(["ann", "m"], one, one + 1, one, record, np.array([5]))
    s.add(["ann", "m"], one, one + 1, one + 9, record, np.array([2]))  # the same day again, from a later run
    with pytest.raises(RuntimeError, match="finish"):
        s.of("ann")
    s.finish()
    assert {m: d.tolist() for m, d in s.of("ann").items()} == {"m": [[1, 2, 4, 6, 8, 10, 12, 14, 7]]}
    assert s.people() == {"ann"} and s.of("bob") == {}
    with pytest.raises(RuntimeError, match="no more days"):
        s.add(["ann", "m"], one, one + 1, one, record, np.array([5]))
    s.close()
    with pytest.raises(RuntimeError, match="closed"):
        s.of("ann")


def test_a_finished_series_holds_no_days_in_memory() -> None:
    """Once finished, the days are on disk only: what the series holds grows with people, not with their days."""
    import gc
    import tracemalloc

    import numpy as np

    from generator.site.series import WIDTH, Series

    days = [MOMENT.date() - timedelta(days=i) for i in range(89, -1, -1)]
    people, models = 200, 10
    names = [f"p{i}" for i in range(people)] + [f"m{i}" for i in range(models)]
    tracemalloc.start()
    try:
        s = Series(days)
        for d in days:  # a run a day: every person's every model
            person = np.repeat(np.arange(people), models)
            model = np.tile(np.arange(models), people) + people
            counts = np.full((len(person), WIDTH - 1), 7, np.int64)
            counts[:, 0] = d.toordinal()
            s.add(names, person, model, np.arange(len(person)), counts, np.full(len(person), 10**9, np.int64))
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        s.finish()
        del person, model, counts
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    total = people * models * len(days) * (WIDTH * 8)  # the days as 64-bit integers: 13 MB
    assert held < total / 20, (held, total)
    assert len(s.of("p7")) == models and all(len(d) == len(days) for d in s.of("p7").values())
    s.close()
