"""The state store: named blobs kept between runs, in a local folder or under an S3 prefix.

Five clients keep their state here (Insights partitions, S3 and Athena days, the Price List cache,
budget notices said). Owns only where blobs live and how they are written (atomically); what a blob
means belongs to the module that writes it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from generator import aws
from generator.aws import AWS_ERRORS, error_code, reason
from generator.errors import SourceError
from generator.layout import key_prefix, write_file


class Store(Protocol):
    def read_blob(self, name: str) -> bytes | None: ...
    def write_blob(self, name: str, data: bytes) -> None: ...


class LocalStore:
    """Blobs as files under a folder, each written atomically."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def read_blob(self, name: str) -> bytes | None:
        """Read one blob (None when absent)."""
        path = self.root / name
        return path.read_bytes() if path.is_file() else None

    def write_blob(self, name: str, data: bytes) -> None:
        write_file(self.root / name, data)


class S3Store:
    """Blobs as objects under an S3 prefix (a PUT is atomic)."""

    def __init__(self, s3: Any, bucket: str, prefix: str) -> None:
        self.s3, self.bucket, self.prefix = s3, bucket, key_prefix(prefix)

    def read_blob(self, name: str) -> bytes | None:
        """Read one object under the prefix (None when absent)."""
        try:
            body: bytes = self.s3.get_object(Bucket=self.bucket, Key=self.prefix + name)["Body"].read()
        except AWS_ERRORS as exc:
            if error_code(exc) in ("NoSuchKey", "404"):
                return None
            raise SourceError(f"cannot read the state in s3://{self.bucket}/{self.prefix} ({reason(exc)})") from None
        return body

    def write_blob(self, name: str, data: bytes) -> None:
        key = self.prefix + name
        try:
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType="application/json")
        except AWS_ERRORS as exc:
            raise SourceError(f"cannot write the state to s3://{self.bucket}/{key} ({reason(exc)})") from None


def open_store(spec: str, profile: str | None = None, endpoint_url: str | None = None) -> Store:
    """A local folder, or `s3://bucket/prefix`."""
    if spec.startswith("s3://"):
        bucket, _, prefix = spec[5:].partition("/")
        return S3Store(aws.client("s3", profile=profile, endpoint_url=endpoint_url), bucket, prefix)
    return LocalStore(Path(spec))
