"""Publishing: the pure plan, then end to end against moto's S3 and CloudFront over HTTP."""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner

from generator import aws
from generator.cli import cli
from generator.errors import PublishError
from generator.publish import IMMUTABLE, LocalFile, RemoteObject, cache_control, plan
from tests.conftest import NOW_ISO


def local(*paths: str, data: bytes = b"x") -> dict[str, LocalFile]:
    return {p: LocalFile.of(p, data) for p in paths}


MD5_X = hashlib.md5(b"x").hexdigest()


@pytest.mark.parametrize(
    ("remote", "published", "kwargs", "uploads", "skipped", "deletes"),
    [
        ({}, None, {}, [("assets/a.0123456789.js", "new"), ("data/u.json", "new"), ("index.html", "new"),
                        ("data/manifest.json", "new")], [], []),
        # a previous site of ours (its manifest listed nothing) is there: no --adopt needed
        ({"index.html": RemoteObject("index.html", f'"{MD5_X}"')}, {}, {}, "rest-new", ["index.html"], []),
        ({"index.html": RemoteObject("index.html", '"0" * 32')}, {}, {}, "all-new-or-changed", [], []),
        ({"index.html": RemoteObject("index.html", '"abc-2"', sha256=hashlib.sha256(b"x").hexdigest())}, {}, {},
         "rest-new", ["index.html"], []),
        ({"index.html": RemoteObject("index.html", '"abc-2"')}, {}, {}, "all-new-or-changed", [], []),
        ({"index.html": RemoteObject("index.html", f'"{MD5_X}"')}, {}, {"force": True}, "forced", [], []),
        # objects and no manifest at all: only with --adopt
        ({"index.html": RemoteObject("index.html", f'"{MD5_X}"')}, None, {"adopt": True}, "rest-new", ["index.html"],
         []),
        ({"matrix-90d.html": RemoteObject("matrix-90d.html", '"1"', sha256="a" * 64),
          "foreign.txt": RemoteObject("foreign.txt", '"2"')},
         {"matrix-90d.html": "a" * 64, "data/manifest.json": ""}, {"delete": True}, "ignore", [],
         [("matrix-90d.html", "removed from site")]),
        # changed since we published it (its stored sha256 is not the manifest's): kept
        ({"matrix-90d.html": RemoteObject("matrix-90d.html", '"1"', sha256="b" * 64)},
         {"matrix-90d.html": "a" * 64}, {"delete": True}, "ignore", [], []),
        ({"matrix-90d.html": RemoteObject("matrix-90d.html", '"1"', sha256="a" * 64)}, {"matrix-90d.html": "a" * 64},
         {}, "ignore", [], []),
    ],
)  # fmt: skip
def test_plan(
    remote: dict[str, RemoteObject], published: dict[str, str] | None, kwargs: dict[str, Any],
    uploads: Any, skipped: list[str], deletes: list[tuple[str, str]],
) -> None:  # fmt: skip
    site = local("index.html", "data/u.json", "data/manifest.json", "assets/a.0123456789.js")
    result = plan(site, remote, published, **kwargs)
    order = [s.path for s in result.uploads]
    if "index.html" not in skipped:
        assert order == ["assets/a.0123456789.js", "data/u.json", "index.html", "data/manifest.json"]
    if uploads == "forced":
        assert dict((s.path, s.reason) for s in result.uploads)["index.html"] == "forced"
    elif uploads == "all-new-or-changed":
        assert dict((s.path, s.reason) for s in result.uploads)["index.html"] == "changed"
    elif uploads == "rest-new":
        assert all(s.reason == "new" for s in result.uploads) and "index.html" not in order
    elif isinstance(uploads, list):
        assert [(s.path, s.reason) for s in result.uploads] == uploads
    assert list(result.skipped) == skipped
    assert [(s.path, s.reason) for s in result.deletes] == deletes


def test_plan_refuses_too_many_deletes() -> None:
    remote = {f"usage-w{i}.html": RemoteObject(f"usage-w{i}.html", '"1"', sha256="a" * 64) for i in range(5)}
    with pytest.raises(PublishError, match="more than --max-deletes 3"):
        plan(local("index.html"), remote, dict.fromkeys(remote, "a" * 64), delete=True, max_deletes=3)


def test_plan_refuses_a_foreign_site_without_adopt() -> None:
    remote = {"index.html": RemoteObject("index.html", '"1"'), ".bedrock-usage-state/publish-lock/_root/lock.json":
              RemoteObject("x", '"2"')}  # fmt: skip
    with pytest.raises(PublishError, match=r"holds 1 objects .* no data/manifest.json of bedrock-usage's.*--adopt"):
        plan(local("index.html"), remote, None)
    assert plan(local("index.html"), {k: v for k, v in remote.items() if k.startswith(".")}, None).uploads
    changed = plan(local("index.html"), {"usage-x.html": RemoteObject("usage-x.html", '"1"', sha256="c" * 64)},
                   {"usage-x.html": "d" * 64}, delete=True)  # fmt: skip
    assert changed.deletes == () and "kept 1 objects that changed since" in changed.note


def test_cache_control_by_class() -> None:
    assert cache_control("assets/app.0123456789.js", 300) == IMMUTABLE
    assert cache_control("assets/vendor/chart.umd.min.0123456789.js", 300) == IMMUTABLE
    assert cache_control("index.html", 60) == "public, max-age=60"
    assert cache_control("data/usage-7d.json", 300) == "public, max-age=300"


# ---- end to end against moto over HTTP -------------------------------------------------------


@pytest.fixture
def bucket(moto_server: str) -> tuple[Any, str]:
    s3 = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1")
    name = f"site-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return s3, name


@pytest.fixture
def distribution(moto_server: str) -> tuple[Any, str]:
    cf = boto3.client("cloudfront", endpoint_url=moto_server, region_name="us-east-1")
    config = {
        "CallerReference": uuid.uuid4().hex, "Comment": "", "Enabled": True,
        "Origins": {"Quantity": 1, "Items": [{"Id": "s3", "DomainName": "b.s3.amazonaws.com",
                                                "S3OriginConfig": {"OriginAccessIdentity": ""}}]},
        "DefaultCacheBehavior": {
            "TargetOriginId": "s3", "ViewerProtocolPolicy": "redirect-to-https", "MinTTL": 0,
            "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}},
        },
    }  # fmt: skip
    return cf, cf.create_distribution(DistributionConfig=config)["Distribution"]["Id"]


def publish(moto_server: str, name: str, *extra: str, logs: Path | None = None) -> Any:
    args = ["publish", "--bucket", name, "--endpoint-url", moto_server, "--now", NOW_ISO, *extra]
    args += ["--logs", str(logs)] if logs is not None else ["--source", "demo"]
    return CliRunner().invoke(cli, args)


def objects(s3: Any, name: str) -> dict[str, dict[str, Any]]:
    found = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
        for obj in page.get("Contents", []):
            found[obj["Key"]] = obj
    return found


def invalidations(cf: Any, dist: str) -> list[list[str]]:
    items = cf.list_invalidations(DistributionId=dist)["InvalidationList"].get("Items", [])
    return [cf.get_invalidation(DistributionId=dist, Id=i["Id"])["Invalidation"]["InvalidationBatch"]["Paths"]
            .get("Items", []) for i in items]  # fmt: skip


def test_first_publish_then_nothing_changes(
    moto_server: str, bucket: Any, distribution: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDFRONT", moto_server)
    s3, name = bucket
    cf, dist = distribution
    first = publish(moto_server, name, "--distribution-id", dist, "--prefix", "team/")
    assert first.exit_code == 0, first.output
    stored = objects(s3, name)
    assert "team/index.html" in stored and "team/data/manifest.json" in stored
    assert re.search(rf"uploaded {len(stored)}, skipped 0, deleted 0", first.output)
    html = s3.head_object(Bucket=name, Key="team/usage-7d.html")
    assert html["ContentType"] == "text/html; charset=utf-8" and html["CacheControl"] == "public, max-age=300"
    asset = next(k for k in stored if k.startswith("team/assets/app."))
    head = s3.head_object(Bucket=name, Key=asset)
    assert head["CacheControl"] == IMMUTABLE and head["ContentType"] == "text/javascript; charset=utf-8"
    data = s3.head_object(Bucket=name, Key="team/data/usage-7d.csv")
    assert data["ContentType"] == "text/csv; charset=utf-8"
    body = s3.get_object(Bucket=name, Key="team/data/usage-7d.json")["Body"].read()
    assert data["Metadata"]["sha256"] != hashlib.sha256(body).hexdigest()  # csv vs json: distinct files
    assert invalidations(cf, dist) == [["/team/*"]]

    again = publish(moto_server, name, "--distribution-id", dist, "--prefix", "team/")
    assert again.exit_code == 0, again.output
    assert f"uploaded 0, skipped {len(stored)}, deleted 0" in again.output
    assert len(invalidations(cf, dist)) == 1  # nothing changed: no new invalidation


def write_logs(folder: Path, extra_day: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    recs = [
        {"timestamp": f"2026-{d}T10:00:00Z", "identity": {"arn": "arn:aws:iam::1:user/ann"},
         "modelId": "amazon.nova-lite-v1:0", "input": {"inputTokenCount": 1000}, "output": {"outputTokenCount": 10}}
        for d in ["11-26", "11-20", "10-30", "09-10", *([extra_day] if extra_day else [])]
    ]  # fmt: skip
    (folder / "logs.jsonl").write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    return folder


def test_a_change_uploads_only_what_it_changed(moto_server: str, bucket: Any, tmp_path: Path) -> None:
    s3, name = bucket
    logs = write_logs(tmp_path / "logs")
    assert publish(moto_server, name, logs=logs).exit_code == 0
    before = {k: o["ETag"] for k, o in objects(s3, name).items()}
    write_logs(logs, extra_day="10-15")  # in last-month and 90d only
    result = publish(moto_server, name, logs=logs)
    assert result.exit_code == 0, result.output
    after = {k: o["ETag"] for k, o in objects(s3, name).items()}
    changed = {k for k in after if before.get(k) != after[k]}
    assert changed == {
        "usage-90d.html", "usage-last-month.html", "matrix-90d.html", "matrix-last-month.html",
        "data/usage-90d.json", "data/usage-90d.csv", "data/usage-last-month.json", "data/usage-last-month.csv",
        "data/daily-90d.csv", "data/daily-last-month.csv", "data/manifest.json",
        # the day is in the previous period of 30d and month-to-date: their changes against it move
        "usage-30d.html", "data/usage-30d.json", "usage-mtd.html", "data/usage-mtd.json",
        # and in ann's page and file (her 90 days), and in the landing page's pace of last month
        "person/ann-49915e0d.html", "data/person/ann-49915e0d.json", "index.html",
    }  # fmt: skip
    assert f"uploaded {len(changed)}," in result.output


def test_dry_run_changes_nothing(moto_server: str, bucket: Any) -> None:
    s3, name = bucket
    result = publish(moto_server, name, "--dry-run")
    assert result.exit_code == 0, result.output
    assert f"upload s3://{name}/index.html (new)" in result.output
    assert objects(s3, name) == {}


def test_delete_spares_foreign_objects(moto_server: str, bucket: Any) -> None:
    s3, name = bucket
    assert publish(moto_server, name).exit_code == 0
    s3.put_object(Bucket=name, Key="notes/keep-me.txt", Body=b"mine")
    s3.put_object(Bucket=name, Key="usage-2w.html", Body=b"also mine, though it looks like a page")
    result = publish(moto_server, name, "--windows", "7d,1d", "--delete")
    assert result.exit_code == 0, result.output
    keys = set(objects(s3, name))
    assert {"notes/keep-me.txt", "usage-2w.html", "usage-7d.html"} <= keys
    assert "usage-90d.html" not in keys and "data/usage-mtd.json" not in keys
    assert "deleted 20" in result.output  # 4 windows x (2 pages, JSON, CSV, daily CSV)


def test_publish_refuses_a_failed_build(moto_server: str, bucket: Any, tmp_path: Path) -> None:
    s3, name = bucket
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "x.jsonl").write_text("{broken\n")
    result = publish(moto_server, name, "--strict", logs=logs)
    assert result.exit_code == 1 and "1 log record skipped" in result.output
    assert objects(s3, name) == {}


def consistent(s3: Any, name: str) -> None:
    """Every page references only objects that exist, and the manifest matches the objects."""
    stored = objects(s3, name)
    manifest = json.loads(s3.get_object(Bucket=name, Key="data/manifest.json")["Body"].read())
    for rel, digest in manifest["files"].items():
        assert rel in stored, rel
        assert hashlib.sha256(s3.get_object(Bucket=name, Key=rel)["Body"].read()).hexdigest() == digest, rel
    for key in (k for k in stored if k.endswith(".html")):
        page = s3.get_object(Bucket=name, Key=key)["Body"].read().decode()
        folder = key.rpartition("/")[0]
        for ref in re.findall(r'(?:href|src)="([^"#:]+)"', page):
            target = posixpath.normpath(posixpath.join(folder, ref))  # person/x.html -> ../assets/... resolves
            assert target in stored, f"{key} -> {ref}"


@pytest.mark.parametrize("k", [1, 3, 6, 20, 28])
def test_a_failed_put_leaves_a_consistent_site(
    moto_server: str, bucket: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, k: int
) -> None:
    s3, name = bucket
    logs = write_logs(tmp_path / "logs")
    assert publish(moto_server, name, logs=logs).exit_code == 0
    write_logs(logs, extra_day="11-25")  # changes most windows
    real_client = aws.client
    calls = {"n": 0}

    def failing_client(service: str, **kwargs: Any) -> Any:
        client = real_client(service, **kwargs)

        def count(params: dict[str, Any], **_: Any) -> None:
            if params["Key"].startswith(".bedrock-usage-state/"):
                return  # the publish lock, not the site
            calls["n"] += 1
            if calls["n"] == k:
                raise ConnectionError(f"injected failure of PUT #{k}")

        client.meta.events.register("before-parameter-build.s3.PutObject", count)
        return client

    monkeypatch.setattr(aws, "client", failing_client)
    result = publish(moto_server, name, "--force", logs=logs)
    assert result.exit_code == 1, result.output
    assert f"injected failure of PUT #{k}" in result.output and "previous site" in result.output
    consistent(s3, name)
