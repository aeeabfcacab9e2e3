"""Publish a built site to S3 (and invalidate CloudFront): plan as data first, then apply it safely.

Owns change detection, upload order, headers, deletes and rollback. `plan()` is pure; `apply()`
does the I/O with clients it is given. A failure restores every object this run overwrote, so
pages never point at missing files and the manifest always describes what is there.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import urllib.parse
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from generator.aws import AWS_ERRORS, error_code, reason
from generator.errors import PublishError
from generator.headers import content_type
from generator.layout import MANIFEST, MAX_MANIFEST, SITE_PATH, STATE_PREFIX, manifest_files

PHASES = ("assets", "data", "pages", "manifest")  # upload order
_FINGERPRINT = re.compile(r"^assets/.+\.[0-9a-f]{10}\.[A-Za-z0-9]+$")
IMMUTABLE = "public, max-age=31536000, immutable"


@dataclass(frozen=True)
class Options:
    """How to publish: the flags of `bedrock-usage publish`."""

    dry_run: bool = False
    delete: bool = False
    max_deletes: int = 100
    force: bool = False
    endpoint_url: str | None = None
    max_age: int = 300
    concurrency: int = 8
    lock_wait: float = 120.0  # seconds to wait for another publisher before giving up (exit 0)
    adopt: bool = False  # publish into a bucket or prefix that holds objects but no manifest of ours


@dataclass(frozen=True)
class LocalFile:
    """A file of the built site."""

    path: str  # relative, with forward slashes
    data: bytes
    sha256: str
    md5: str

    @classmethod
    def of(cls, path: str, data: bytes) -> LocalFile:
        return cls(path, data, hashlib.sha256(data).hexdigest(), hashlib.md5(data, usedforsecurity=False).hexdigest())


@dataclass(frozen=True)
class RemoteObject:
    """What S3 says about one object: its ETag and, when it has one, the sha256 we stored."""

    key: str
    etag: str
    sha256: str | None = None


@dataclass(frozen=True)
class Step:
    """One change with the reason for it."""

    path: str
    reason: str  # new | changed | forced | removed from site


@dataclass(frozen=True)
class Plan:
    """Everything a publish will do, in order."""

    uploads: tuple[Step, ...]
    skipped: tuple[str, ...]
    deletes: tuple[Step, ...]
    note: str = ""  # why nothing is deleted this run, when --delete was asked for

    def phase(self, name: str) -> list[Step]:
        return [s for s in self.uploads if phase_of(s.path) == name]

    def describe(self, prefix: str = "") -> str:
        lines = [f"upload {prefix}{s.path} ({s.reason})" for s in self.uploads]
        lines += [f"delete {prefix}{s.path} ({s.reason})" for s in self.deletes]
        lines.append(f"{len(self.uploads)} to upload, {len(self.skipped)} unchanged, {len(self.deletes)} to delete")
        if self.note:
            lines.append(self.note)
        return "\n".join(lines)


def phase_of(path: str) -> str:
    """Which upload phase a site path belongs to."""
    if path == MANIFEST:
        return "manifest"
    if path.startswith("assets/"):
        return "assets"
    if path.startswith("data/"):
        return "data"
    return "pages"


def cache_control(path: str, max_age: int) -> str:
    """Fingerprinted assets are cached forever; pages and data for `max_age` seconds."""
    return IMMUTABLE if _FINGERPRINT.match(path) else f"public, max-age={max_age}"


def removed(path: str, local: Mapping[str, LocalFile], published: Mapping[str, str] | None) -> bool:
    """A path the previous site had, this tool writes, and the new site no longer has: a candidate for --delete."""
    return path not in local and path in (published or {}) and bool(SITE_PATH.match(path))


def unchanged(local: LocalFile, remote: RemoteObject) -> bool:
    """Same content: our stored sha256 matches, or a single-part MD5 ETag does."""
    if remote.sha256 is not None:
        return remote.sha256 == local.sha256
    etag = remote.etag.strip('"')
    return "-" not in etag and etag == local.md5


def plan(
    local: Mapping[str, LocalFile],
    remote: Mapping[str, RemoteObject],
    published: Mapping[str, str] | None,
    *,
    published_problem: str = "",
    delete: bool = False,
    max_deletes: int = 100,
    force: bool = False,
    adopt: bool = False,
) -> Plan:
    """Decide what to upload, skip and delete; `published` is the previous manifest's files and their sha256."""
    theirs = [p for p in remote if not p.startswith(STATE_PREFIX)]
    if published is None and not published_problem and theirs and not adopt:
        raise PublishError(
            f"the bucket or prefix holds {len(theirs):,} objects (first: {theirs[0][:80]!r}) but no {MANIFEST} of "
            "bedrock-usage's: publish to an empty bucket or prefix, or pass --adopt to publish over them"
        )
    uploads, skipped = [], []
    for path in sorted(local, key=lambda p: (PHASES.index(phase_of(p)), p)):
        if path not in remote:
            uploads.append(Step(path, "new"))
        elif force:
            uploads.append(Step(path, "forced"))
        elif not unchanged(local[path], remote[path]):
            uploads.append(Step(path, "changed"))
        else:
            skipped.append(path)
    deletes: list[Step] = []
    note = f"no deletes this run: the published {MANIFEST} {published_problem}" if delete and published_problem else ""
    if delete and published:
        # Only what our previous manifest listed, this tool writes, and is still what it uploaded (the sha256 stored
        # with the object equals the manifest's): never an object it did not publish, nor one changed since.
        gone = [p for p in sorted(published) if p in remote and removed(p, local, published)]
        deletes = [Step(p, "removed from site") for p in gone if remote[p].sha256 == published[p]]
        if len(deletes) < len(gone):
            note = f"kept {len(gone) - len(deletes)} objects that changed since this tool published them"
        if len(deletes) > max_deletes:
            raise PublishError(
                f"{len(deletes)} objects would be deleted, more than --max-deletes {max_deletes}; "
                "check the prefix, or raise --max-deletes"
            )
    return Plan(tuple(uploads), tuple(skipped), tuple(deletes), note)


def read_site(folder: Path) -> dict[str, LocalFile]:
    """Read every file of a built site."""
    return {
        p.relative_to(folder).as_posix(): LocalFile.of(p.relative_to(folder).as_posix(), p.read_bytes())
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@dataclass
class Remote:
    """The bucket and prefix a site is published to, and the client that reaches them."""

    s3: Any
    bucket: str
    prefix: str = ""

    def key(self, path: str) -> str:
        return self.prefix + path

    def list(
        self, local: Mapping[str, LocalFile], published: Mapping[str, str] | None = None
    ) -> dict[str, RemoteObject]:
        """List our prefix; read stored hashes where the ETag cannot tell, and for what a delete would remove."""
        found: dict[str, RemoteObject] = {}
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix):
            for obj in page.get("Contents", []):
                path = obj["Key"][len(self.prefix) :]
                found[path] = RemoteObject(obj["Key"], obj.get("ETag", ""))
        for path, obj in found.items():
            if removed(path, local, published) or (path in local and not unchanged(local[path], obj)):
                head = self.s3.head_object(Bucket=self.bucket, Key=obj.key)
                found[path] = RemoteObject(obj.key, obj.etag, head.get("Metadata", {}).get("sha256"))
        return found

    def published(self) -> tuple[dict[str, str] | None, str]:
        """The files the previous manifest listed, or None and what is wrong with it ("" when there is none)."""
        try:
            response = self.s3.get_object(Bucket=self.bucket, Key=self.key(MANIFEST))
        except AWS_ERRORS as exc:
            if error_code(exc) in ("NoSuchKey", "404"):
                return None, ""
            return None, f"could not be read ({reason(exc)})"
        body = response["Body"].read(MAX_MANIFEST + 1)
        found, why = manifest_files(body)
        return found, (f"is not one this tool wrote: {why}" if found is None else "")

    def published_at(self) -> datetime | None:
        """When the published site was generated (its manifest's `generated_at`), or None when unknown."""
        try:
            doc = json.loads(self.s3.get_object(Bucket=self.bucket, Key=self.key(MANIFEST))["Body"].read(MAX_MANIFEST))
            return datetime.strptime(str(doc["generated_at"]), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except (*AWS_ERRORS, ValueError, KeyError, TypeError):
            return None

    def put(self, file: LocalFile, max_age: int) -> None:
        self.s3.put_object(
            Bucket=self.bucket,
            Key=self.key(file.path),
            Body=file.data,
            ContentType=content_type(file.path),
            CacheControl=cache_control(file.path, max_age),
            Metadata={"sha256": file.sha256},
        )

    def get(self, path: str) -> bytes:
        return bytes(self.s3.get_object(Bucket=self.bucket, Key=self.key(path))["Body"].read())


@dataclass
class Outcome:
    """What apply() did."""

    uploaded: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    invalidated: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self, skipped: int) -> str:
        line = f"uploaded {len(self.uploaded)}, skipped {skipped}, deleted {len(self.deleted)}, {self.seconds:.1f} s"
        if self.invalidated:
            line += f"; invalidated {', '.join(self.invalidated)}"
        return line


def apply(
    the_plan: Plan,
    local: Mapping[str, LocalFile],
    remote: Remote,
    *,
    max_age: int = 300,
    concurrency: int = 8,
    cloudfront: Any = None,
    distribution_id: str | None = None,
    collapse_over: int = 10,
    progress: Callable[[int, int], None] | None = None,
) -> Outcome:
    """Upload phase by phase, then delete, then invalidate; on failure restore what was overwritten."""
    started = time.perf_counter()
    outcome = Outcome()
    # Pages and data are fetched before they are overwritten, so a failed run can put them back.
    existing = {s.path for s in the_plan.uploads if s.reason != "new" and phase_of(s.path) != "assets"}
    backup = {path: remote.get(path) for path in sorted(existing)}
    total = len(the_plan.uploads)
    try:
        for name in PHASES:
            _upload_phase([local[s.path] for s in the_plan.phase(name)], remote, max_age, concurrency, outcome)
            if progress:
                progress(len(outcome.uploaded), total)
    except Exception as exc:
        restored = _roll_back(outcome.uploaded, backup, the_plan, remote, max_age)
        raise PublishError(f"publish stopped: {exc}; {restored}") from None
    for step in the_plan.deletes:
        try:
            remote.s3.delete_object(Bucket=remote.bucket, Key=remote.key(step.path))
        except AWS_ERRORS as exc:
            raise PublishError(f"site published, but deleting {step.path} failed ({reason(exc)})") from None
        outcome.deleted.append(step.path)
    if cloudfront is not None and distribution_id:
        outcome.invalidated = invalidate(cloudfront, distribution_id, remote.prefix, outcome.uploaded, collapse_over)
    outcome.seconds = time.perf_counter() - started
    return outcome


def _upload_phase(files: list[LocalFile], remote: Remote, max_age: int, concurrency: int, outcome: Outcome) -> None:
    if not files:
        return
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        futures = {pool.submit(remote.put, f, max_age): f.path for f in files}
        _, pending = wait(futures, return_when=FIRST_EXCEPTION)
        for future in pending:
            future.cancel()
        wait(pending)
        failures = []
        for future in futures:
            if future.cancelled():
                continue
            if future.exception() is None:
                outcome.uploaded.append(futures[future])
            else:
                failures.append((futures[future], future.exception()))
        if failures:
            path, exc = sorted(failures, key=lambda f: f[0])[0]
            code = error_code(exc) if isinstance(exc, AWS_ERRORS) else type(exc).__name__
            raise PublishError(f"upload of {path} failed ({code}: {exc})")


def _roll_back(uploaded: list[str], backup: Mapping[str, bytes], the_plan: Plan, remote: Remote, max_age: int) -> str:
    """Put back every page and data file this run overwrote, and remove the ones it added."""
    new = {s.path for s in the_plan.uploads if s.reason == "new"}
    problems = 0
    for path in uploaded:
        try:
            if path in backup:
                remote.put(LocalFile.of(path, backup[path]), max_age)
            elif path in new and phase_of(path) != "assets":
                remote.s3.delete_object(Bucket=remote.bucket, Key=remote.key(path))
        except AWS_ERRORS:
            problems += 1
    if problems:
        return f"{problems} files could not be restored; publish again to repair the site"
    return "the previous site was left in place"


def invalidate(
    cloudfront: Any, distribution_id: str, prefix: str, uploaded: list[str], collapse_over: int
) -> list[str]:
    """Invalidate the changed pages and data (assets have new names); one `/*` path above the threshold."""
    paths = sorted({"/" + urllib.parse.quote(prefix + p) for p in uploaded if not p.startswith("assets/")})
    if any(p.endswith("index.html") for p in uploaded):
        paths.append("/" + urllib.parse.quote(prefix))  # the default root object is served at the folder path too
    if not paths:
        return []
    if len(paths) > collapse_over:
        paths = [f"/{urllib.parse.quote(prefix)}*"]
    reference = f"bedrock-usage-{time.time_ns()}"
    batch = {"Paths": {"Quantity": len(paths), "Items": paths}, "CallerReference": reference}
    cloudfront.create_invalidation(DistributionId=distribution_id, InvalidationBatch=batch)
    return paths
