"""The one wall around AWS: the only module that creates boto3 sessions and clients.

Every client uses botocore's "standard" retry mode (throttling, including Logs Insights'
LimitExceededException, is retried with jittered backoff). Everything above this module takes a
client as an argument, so tests pass a Stubber-wrapped or moto client instead.
"""

from __future__ import annotations

from typing import Any

import boto3
import botocore.config
import botocore.exceptions

from generator import __version__

RETRIES = {"mode": "standard", "max_attempts": 8}
# AWS errors that mean "you may not", as opposed to "it failed".
DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnrecognizedClientException"}


_ASSUMED: dict[tuple[str | None, str], dict[str, str]] = {}  # (profile, role) -> credentials, per process


def client(
    service: str,
    *,
    profile: str | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
    role_arn: str | None = None,
) -> Any:
    """Create a boto3 client with standard retries and our user agent; in another account when `role_arn` is given."""
    agent = f"bedrock-usage-site/{__version__}"
    config = botocore.config.Config(retries=RETRIES, user_agent_extra=agent)
    if role_arn:
        key = (profile, role_arn)
        if key not in _ASSUMED:
            sts = client("sts", profile=profile, region=region)
            found = sts.assume_role(RoleArn=role_arn, RoleSessionName="bedrock-usage-site", DurationSeconds=3600)
            _ASSUMED[key] = found["Credentials"]
        creds = _ASSUMED[key]
        session = boto3.Session(
            aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"], region_name=region or None,
        )  # fmt: skip
    else:
        session = boto3.Session(profile_name=profile or None, region_name=region or None)
    return session.client(service, config=config, endpoint_url=endpoint_url or None)


def has_credentials(profile: str | None = None) -> bool:
    """Tell whether AWS credentials can be found (environment, config files, SSO, instance role)."""
    try:
        return boto3.Session(profile_name=profile or None).get_credentials() is not None
    except botocore.exceptions.BotoCoreError:
        return False


def default_region(profile: str | None = None) -> str | None:
    """The region AWS configuration names, if any."""
    try:
        region = boto3.Session(profile_name=profile or None).region_name
    except botocore.exceptions.BotoCoreError:
        return None
    return str(region) if region else None


def error_code(exc: BaseException) -> str:
    """Return the AWS error code of a botocore ClientError, or the exception's class name."""
    if isinstance(exc, botocore.exceptions.ClientError):
        return str(exc.response.get("Error", {}).get("Code", "ClientError"))
    return type(exc).__name__


def is_denied(exc: BaseException) -> bool:
    """Tell whether an AWS error means missing permission or credentials."""
    if isinstance(exc, botocore.exceptions.NoCredentialsError | botocore.exceptions.PartialCredentialsError):
        return True
    return error_code(exc) in DENIED


AWS_ERRORS = (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)
