"""One publisher at a time: a lock object in the site bucket, taken with an S3 conditional write.

Owns taking, waiting for, breaking (once expired) and releasing the lock. `PutObject` with
`If-None-Match: *` creates the object only if no one holds it; a crashed holder's lock expires and
is removed with `If-Match` on its ETag, so two waiters never both break it. Takes a client.
"""

from __future__ import annotations

import json
import logging
import math
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from generator.aws import AWS_ERRORS, error_code, reason
from generator.errors import PublishError
from generator.layout import STATE_PREFIX

TTL_SECONDS = 1800  # longer than any publish (the Lambda's timeout is 15 minutes at most)
SKEW = 300  # seconds another publisher's clock may be ahead of ours
log = logging.getLogger(__name__)


def lock_key(prefix: str) -> str:
    """Where the lock for a site published under `prefix` lives (beside the state, never served)."""
    return f"{STATE_PREFIX}publish-lock/{prefix or '_root/'}lock.json"


def holder_name() -> str:
    """Who is publishing: host and process (a Lambda's host name is its sandbox)."""
    return f"{socket.gethostname()} pid {os.getpid()}"


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Busy(Exception):
    """Someone else holds the lock past our wait; the message says who and until when."""


@dataclass
class Lock:
    """A held lock: release it when done."""

    s3: Any
    bucket: str
    key: str
    etag: str

    def release(self) -> None:
        """Remove the lock if it is still ours (If-Match on our ETag); never someone else's."""
        _delete_version(self.s3, self.bucket, self.key, self.etag, "release the publish lock")


def acquire(
    s3: Any,
    bucket: str,
    key: str,
    *,
    wait: float = 120.0,
    ttl: float = TTL_SECONDS,
    holder: str | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> Lock:
    """Take the lock, waiting up to `wait` seconds for another holder; raise Busy if it is still held."""
    who = holder or holder_name()
    deadline = clock() + wait
    while True:
        now = clock()
        body = json.dumps({"holder": who, "acquired_at": _when(now), "expires_at": now + ttl}).encode()
        try:
            put = s3.put_object(Bucket=bucket, Key=key, Body=body, IfNoneMatch="*", ContentType="application/json")
            return Lock(s3, bucket, key, put["ETag"])
        except AWS_ERRORS as exc:
            if error_code(exc) not in ("PreconditionFailed", "412", "ConditionalRequestConflict", "409"):
                raise PublishError(f"could not take the publish lock s3://{bucket}/{key} ({reason(exc)})") from None
        current = _read(s3, bucket, key)
        if current is None:
            continue  # released between our attempt and our read: try again at once
        etag, other, expires = current
        if not math.isfinite(expires) or expires > clock() + ttl + SKEW:
            # No holder of ours writes an expiry past its TTL: this lock is forged or broken (1e20, Infinity, NaN,
            # the year 2100). Left alone it would stop every publish, while each scheduled run "succeeded".
            log.warning("broke a publish lock with an impossible expiry (%s, held by %s)", str(expires)[:40], other)
            _delete_version(s3, bucket, key, etag, "break an impossible publish lock")
            continue
        if expires <= clock():
            _delete_version(s3, bucket, key, etag, "remove an expired publish lock")  # a crashed holder.s, that version
            continue
        if clock() >= deadline:
            raise Busy(f"another publish holds the lock ({other}, until {_when(expires)}); nothing was published")
        sleep(min(1.0, max(0.1, deadline - clock())))  # a GET a second while waiting


def _read(s3: Any, bucket: str, key: str) -> tuple[str, str, float] | None:
    """The lock's ETag, holder and expiry; an unreadable lock counts as expired (None when it is gone)."""
    try:
        response = s3.get_object(Bucket=bucket, Key=key)
        raw = response["Body"].read(4096)
    except AWS_ERRORS as exc:
        if error_code(exc) in ("NoSuchKey", "404"):
            return None
        raise PublishError(f"could not read the publish lock s3://{bucket}/{key} ({reason(exc)})") from None
    try:
        doc = json.loads(raw)
        return response["ETag"], str(doc["holder"])[:200], float(doc["expires_at"])
    except (ValueError, KeyError, TypeError):
        return response["ETag"], "an unreadable lock", 0.0


def _delete_version(s3: Any, bucket: str, key: str, etag: str, what: str) -> None:
    """Delete the lock only while it is the version with `etag`; gone or replaced already is fine."""
    try:
        s3.delete_object(Bucket=bucket, Key=key, IfMatch=etag)
    except AWS_ERRORS as exc:
        if error_code(exc) not in ("PreconditionFailed", "NoSuchKey", "404", "412"):
            raise PublishError(f"could not {what} s3://{bucket}/{key} ({reason(exc)})") from None
