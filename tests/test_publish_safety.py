"""Publishing that cannot be turned against the bucket: deletes bounded to what this tool wrote, one publisher at a
time, a validated prefix, encoded invalidations, and an --out folder replaced only when it is ours. Over HTTP against
moto's server, as the issue's attacks were tried."""

import json
import threading
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner

from generator import lock
from generator.build import build
from generator.cli import cli
from generator.config import load_settings
from generator.errors import ConfigError
from generator.layout import MAX_FILES, MAX_MANIFEST, manifest_files
from generator.publish import invalidate
from tests.test_publish import bucket, objects, publish, write_logs

__all__ = ["bucket"]


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    return write_logs(tmp_path / "logs")  # a few records: each build takes a fraction of a second


def tamper(s3: Any, name: str, doc: Any) -> None:
    s3.put_object(Bucket=name, Key="data/manifest.json", Body=json.dumps(doc).encode())


def victims(s3: Any, name: str) -> list[str]:
    keys = ["secret.txt", "other-prefix/file", ".bedrock-usage-state/region=us-east-1/day=2026-11-26.json"]
    for key in keys:
        s3.put_object(Bucket=name, Key=key, Body=b"precious")
    return keys


def test_a_tampered_manifest_deletes_nothing_it_did_not_write(moto_server: str, bucket: Any, logs: Path) -> None:
    s3, name = bucket
    assert publish(moto_server, name, logs=logs).exit_code == 0
    keys = victims(s3, name)
    doc = json.loads(s3.get_object(Bucket=name, Key="data/manifest.json")["Body"].read())
    doc["files"].update({k: "0" * 64 for k in keys})
    tamper(s3, name, doc)
    result = publish(moto_server, name, "--delete", logs=logs)
    assert result.exit_code == 0, result.output
    assert "no deletes this run" in result.output and "which is not a path this tool writes" in result.output
    assert set(keys) <= set(objects(s3, name))


@pytest.mark.parametrize(
    ("doc", "why"),
    [
        ({"files": "index.html"}, "does not say it was written by"),
        ({"tool": {"name": "bedrock-usage-site"}, "files": "index.html"}, "files are not a map"),
        ({"tool": {"name": "bedrock-usage-site"}, "files": ["index.html", 1]}, "files are not a map"),
        ({"tool": {"name": "bedrock-usage-site"}, "files": {"index.html": 1}}, "not a path this tool writes"),
        ({"tool": {"name": "bedrock-usage-site"}, "files": {"../index.html": "x"}}, "not a path this tool writes"),
        ({"tool": {"name": "bedrock-usage-site"}, "files": {f"usage-{i}.html": "x" for i in range(MAX_FILES + 1)}},
         f"files are not a map of at most {MAX_FILES:,}"),
        ([1, 2], "does not say it was written by"),
    ],
)  # fmt: skip
def test_a_manifest_of_the_wrong_shape_is_never_trusted(doc: Any, why: str) -> None:
    found, problem = manifest_files(json.dumps(doc).encode())
    assert found is None and why in problem
    assert manifest_files(b"{" * 10)[1] == "it is not JSON"
    assert "bytes (at most" in manifest_files(b" " * (MAX_MANIFEST + 1))[1]


def test_deletes_are_only_the_previous_sites_own_pages(moto_server: str, bucket: Any, logs: Path) -> None:
    s3, name = bucket
    assert publish(moto_server, name, logs=logs).exit_code == 0
    result = publish(moto_server, name, "--delete", "--windows", "7d", logs=logs)
    assert result.exit_code == 0, result.output
    left = set(objects(s3, name))
    assert "usage-30d.html" not in left and "data/usage-30d.json" not in left and "usage-7d.html" in left


def test_two_publishers_take_turns(moto_server: str, bucket: Any, logs: Path) -> None:
    s3, name = bucket
    key = lock.lock_key("")
    held = lock.acquire(s3, name, key, holder="the Lambda")
    started = time.monotonic()
    result = publish(moto_server, name, "--lock-wait", "1", logs=logs)
    assert result.exit_code == 0 and "another publish holds the lock (the Lambda, until" in result.output
    assert time.monotonic() - started >= 1 and "index.html" not in objects(s3, name)
    threading.Timer(1.0, held.release).start()  # the holder finishes while the second one waits
    result = publish(moto_server, name, "--lock-wait", "30", logs=logs)
    assert result.exit_code == 0 and "uploaded" in result.output
    assert key not in objects(s3, name)  # released after publishing


def test_a_crashed_holders_lock_expires(moto_server: str, bucket: Any, logs: Path) -> None:
    s3, name = bucket
    key = lock.lock_key("usage/")
    s3.put_object(Bucket=name, Key=key, Body=json.dumps({"holder": "dead", "expires_at": time.time() - 1}).encode())
    taken = lock.acquire(s3, name, key, wait=0)
    stored = json.loads(s3.get_object(Bucket=name, Key=key)["Body"].read())
    assert stored["holder"] == lock.holder_name() and stored["expires_at"] > time.time() + 1000
    with pytest.raises(lock.Busy, match=f"another publish holds the lock \\({lock.holder_name()}"):
        lock.acquire(s3, name, key, wait=0)
    s3.put_object(Bucket=name, Key=key, Body=b"not json")  # someone replaced it: ours is gone, theirs stays
    taken.release()
    assert s3.get_object(Bucket=name, Key=key)["Body"].read() == b"not json"


def test_concurrent_publishes_leave_a_site_that_matches_its_manifest(moto_server: str, bucket: Any, logs: Path) -> None:
    from tests.test_publish import consistent

    s3, name = bucket
    results: list[Any] = []
    runs = [threading.Thread(target=lambda w=w: results.append(publish(moto_server, name, "--windows", w, logs=logs)))
            for w in ("7d", "7d,30d", "1d,7d,90d")]  # fmt: skip
    for run in runs:
        run.start()
    for run in runs:
        run.join()
    assert all(r.exit_code == 0 for r in results), [r.output for r in results]
    consistent(s3, name)


@pytest.mark.parametrize("prefix", ["../x", "a//b", ".bedrock-usage-state", "a/./b", "a b", "x/.."])
def test_prefix_is_validated(prefix: str) -> None:
    with pytest.raises(ConfigError, match="PREFIX"):
        load_settings({"source": "demo", "prefix": prefix}, environ={}, env_file=None)
    assert load_settings({"source": "demo", "prefix": "/team-a/usage"}, environ={}, env_file=None).prefix == (
        "team-a/usage/"
    )


def test_invalidation_paths_are_url_encoded() -> None:
    class Recorder:
        def create_invalidation(self, **kwargs: Any) -> None:
            self.paths = kwargs["InvalidationBatch"]["Paths"]["Items"]

    cf = Recorder()
    paths = invalidate(cf, "D", "team a~/", ["usage-7d.html", "index.html", "assets/x.0123456789.js"], 10)
    assert paths == cf.paths == ["/team%20a~/index.html", "/team%20a~/usage-7d.html", "/team%20a~/"]


def test_out_is_replaced_only_when_it_is_exactly_our_site(make_settings: Any, tmp_path: Path, logs: Path) -> None:
    out = tmp_path / "site"
    build(make_settings(out=out, windows="7d", logs=(logs,)))
    build(make_settings(out=out, windows="7d", logs=(logs,)))  # our own site: replaced
    (out / "src").mkdir()
    (out / "src/main.c").write_text("int main;")
    with pytest.raises(ConfigError, match=r"holds 'src/main\.c', which its manifest does not list"):
        build(make_settings(out=out, windows="7d", logs=(logs,)))
    assert (out / "src/main.c").exists()
    victim = tmp_path / "victim"
    (victim / "data").mkdir(parents=True)
    (victim / "data/manifest.json").write_text('{"files": {}}')  # any manifest is not ours
    (victim / "thesis.tex").write_text("precious")
    with pytest.raises(ConfigError, match="does not say it was written by bedrock-usage-site"):
        build(make_settings(out=victim, windows="7d", logs=(logs,)))
    assert (victim / "thesis.tex").read_text() == "precious"


def test_publish_dry_run_takes_no_lock(moto_server: str, bucket: Any, logs: Path) -> None:
    s3, name = bucket
    held = lock.acquire(s3, name, lock.lock_key(""), holder="someone")
    result = CliRunner().invoke(
        cli, ["publish", "--bucket", name, "--endpoint-url", moto_server, "--logs", str(logs), "--dry-run"]
    )
    assert result.exit_code == 0 and "to upload" in result.output
    held.release()
    assert boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1") is not None


@pytest.mark.parametrize("expires", ["1e20", "Infinity", "NaN", "4102444800", "-Infinity"])
def test_a_lock_with_an_impossible_expiry_is_broken_with_a_warning(
    moto_server: str, bucket: Any, expires: str, caplog: pytest.LogCaptureFixture
) -> None:
    s3, name = bucket
    key = lock.lock_key("usage/")
    s3.put_object(Bucket=name, Key=key, Body=b'{"holder": "forged", "expires_at": ' + expires.encode() + b"}")
    with caplog.at_level("WARNING", logger="generator.lock"):
        taken = lock.acquire(s3, name, key, wait=0)
    stored = json.loads(s3.get_object(Bucket=name, Key=key)["Body"].read())
    assert stored["holder"] == lock.holder_name()
    assert time.time() < stored["expires_at"] <= time.time() + lock.TTL_SECONDS
    if expires != "-Infinity":  # an expiry in the past is only an expired lock
        assert "impossible expiry" in caplog.text and "forged" in caplog.text
    taken.release()


def test_publish_refuses_a_foreign_bucket_unless_adopted(moto_server: str, bucket: Any, logs: Path) -> None:
    s3, name = bucket
    s3.put_object(Bucket=name, Key="index.html", Body=b"<h1>the company's own site</h1>")
    refused = publish(moto_server, name, logs=logs)
    assert refused.exit_code == 1 and "--adopt" in refused.output
    assert s3.get_object(Bucket=name, Key="index.html")["Body"].read() == b"<h1>the company's own site</h1>"
    adopted = publish(moto_server, name, "--adopt", logs=logs)
    assert adopted.exit_code == 0, adopted.output


def test_an_edited_manifest_cannot_delete_what_changed_since(moto_server: str, bucket: Any, logs: Path) -> None:
    s3, name = bucket
    assert publish(moto_server, name, logs=logs).exit_code == 0
    doc = json.loads(s3.get_object(Bucket=name, Key="data/manifest.json")["Body"].read())
    s3.put_object(Bucket=name, Key="usage-zz.html", Body=b"someone else's page")  # site-shaped, not ours
    doc["files"]["usage-zz.html"] = "0" * 64
    tamper(s3, name, doc)
    result = publish(moto_server, name, "--delete", logs=logs)
    assert result.exit_code == 0, result.output
    assert "usage-zz.html" in objects(s3, name) and "kept 1 objects that changed since" in result.output


@pytest.mark.parametrize(("hours_later", "code"), [(0.5, 0), (3, 1)])
def test_a_scheduled_run_kept_out_for_two_intervals_fails(
    moto_server: str, bucket: Any, logs: Path, hours_later: float, code: int
) -> None:
    from datetime import datetime, timedelta

    from tests.conftest import NOW_ISO

    s3, name = bucket
    assert publish(moto_server, name, logs=logs).exit_code == 0  # generated at NOW
    key = lock.lock_key("")
    s3.put_object(Bucket=name, Key=key, Body=json.dumps({"holder": "stuck", "expires_at": time.time() + 600}).encode())
    later = (datetime.fromisoformat(NOW_ISO.replace("Z", "+00:00")) + timedelta(hours=hours_later)).isoformat()
    args = ["publish", "--bucket", name, "--endpoint-url", moto_server, "--now", later, "--logs", str(logs),
            "--lock-wait", "0"]  # fmt: skip
    result = CliRunner().invoke(cli, args, env={"SCHEDULE": "rate(1 hour)"})
    assert result.exit_code == code, result.output
    if code:
        assert (
            "has not been published since" in result.output and "two scheduled intervals (120 minutes)" in result.output
        )
    else:
        assert "another publish holds the lock (stuck" in result.output


@pytest.mark.parametrize(("schedule", "seconds"), [("rate(1 hour)", 7200), ("rate(15 minutes)", 1800),
                                                   ("rate(1 day)", 172800), ("cron(0 6 * * ? *)", 172800)])  # fmt: skip
def test_stale_after_is_two_intervals(schedule: str, seconds: int) -> None:
    settings = load_settings({"source": "demo"}, environ={"SCHEDULE": schedule}, env_file=None)
    assert settings.stale_after == seconds
    with pytest.raises(ConfigError, match="SCHEDULE"):
        load_settings({"source": "demo"}, environ={"SCHEDULE": "every hour"}, env_file=None)
