"""Read the site's data files from its bucket with the caller's AWS identity: how tools get the JSON while people
sign in.

People come through CloudFront, where the edge asks for a sign-in and answers 401 to a data file without one;
tools do not come through CloudFront at all. They read `data/` straight from the private bucket, signed with
their own IAM identity: the stack's DataReaderPolicy (output DataReaderPolicyArn) grants s3:GetObject on
`data/*` and nothing else, so no key or secret is minted, held or rotated, and every read is in CloudTrail.
Each file is checked against the manifest its publish wrote, so a read during a publish is never half of one
build and half of another.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from generator.aws import AWS_ERRORS, error_code, reason
from generator.errors import ConfigError, PublishError
from generator.layout import MANIFEST, manifest_files

DATA_PATH = re.compile(r"data/(?:[a-z0-9][a-z0-9_.-]{0,120}/){0,2}[a-z0-9][a-z0-9_.-]{0,120}\.(?:json|csv)")
ATTEMPTS = 3  # a file that changed under the reader is read again with the manifest, this many times in all


def check_path(path: str) -> str:
    """A data file's site path (`data/usage-30d.json`), or ConfigError saying what one looks like."""
    bare = path.lstrip("/")
    if not DATA_PATH.fullmatch(bare) or ".." in bare.split("/"):
        raise ConfigError(
            f"{path[:200]!r} is not a data file of the site: give a path like data/usage-30d.json, "
            "data/person/<slug>.json or data/schema/usage.schema.json"
        )
    return bare


def stack_bucket(cfn: Any, stack: str) -> str:
    """The site bucket of a deployed stack (its BucketName output)."""
    try:
        found = cfn.describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
    except AWS_ERRORS as exc:
        raise PublishError(f"could not read stack {stack}: {reason(exc)}") from None
    bucket = next((o["OutputValue"] for o in found if o["OutputKey"] == "BucketName"), "")
    if not bucket:
        raise ConfigError(f"stack {stack} has no BucketName output: is it a bedrock-usage stack?")
    return str(bucket)


def fetch(s3: Any, bucket: str, prefix: str, path: str) -> bytes:
    """The bytes of the data file `path` in the site at s3://bucket/prefix, as its manifest lists them."""
    path = check_path(path)
    for _ in range(ATTEMPTS):
        manifest = _get(s3, bucket, prefix, MANIFEST)
        files, why = manifest_files(manifest)
        if files is None:
            raise PublishError(
                f"s3://{bucket}/{prefix}{MANIFEST} is not this tool's manifest ({why}): wrong bucket or prefix?"
            )
        if path == MANIFEST:
            return manifest
        if path not in files:
            raise PublishError(f"the site at s3://{bucket}/{prefix} has no {path} (its manifest does not list it)")
        body = _get(s3, bucket, prefix, path)
        if hashlib.sha256(body).hexdigest() == files[path]:
            return body
    raise PublishError(f"{path} kept changing while it was read (a publish running?); try again in a minute")


def _get(s3: Any, bucket: str, prefix: str, path: str) -> bytes:
    key = f"{prefix}{path}"
    try:
        return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except AWS_ERRORS as exc:
        code = error_code(exc)
        if code in {"NoSuchKey", "404"}:
            raise PublishError(
                f"s3://{bucket}/{key} does not exist: wrong bucket or prefix, or nothing published yet"
            ) from None
        if code in {"AccessDenied", "403"}:
            raise PublishError(
                f"reading s3://{bucket}/{key} was denied: attach the stack's DataReaderPolicy "
                "(output DataReaderPolicyArn) to this identity's role or user"
            ) from None
        raise PublishError(f"could not read s3://{bucket}/{key}: {reason(exc)}") from None
