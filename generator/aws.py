"""The one wall around AWS: the only module that creates boto3 sessions and clients.

Every client uses botocore's "standard" retry mode (throttling, including Logs Insights'
LimitExceededException, is retried with jittered backoff). Everything above this module takes a
client as an argument, so tests pass a Stubber-wrapped or moto client instead.
"""

from __future__ import annotations

import re
from typing import Any

import botocore.exceptions

from generator import __version__

# boto3 itself (a third of a second to import) is imported where a session is made: a build that calls no AWS
# service, from files on disk, starts without it

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
    import boto3
    import botocore.config

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


def credentials_problem(profile: str | None = None) -> str:
    """What keeps AWS credentials from being found (environment, config files, SSO, instance role); "" when none."""
    import boto3

    try:
        found = boto3.Session(profile_name=profile or None).get_credentials()
    except botocore.exceptions.BotoCoreError as exc:
        return reason(exc)
    return "" if found is not None else reason(botocore.exceptions.NoCredentialsError())


def default_region(profile: str | None = None) -> str | None:
    """The region AWS configuration names, if any."""
    import boto3

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

EXPIRED = {"ExpiredToken", "ExpiredTokenException", "RequestExpired", "InvalidClientTokenId"}
THROTTLED = {"Throttling", "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded", "SlowDown",
             "LimitExceededException", "ProvisionedThroughputExceededException"}  # fmt: skip
_NETWORK = (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectTimeoutError,
            botocore.exceptions.ReadTimeoutError, botocore.exceptions.ProxyConnectionError)  # fmt: skip
_SSO_EXPIRED = (botocore.exceptions.TokenRetrievalError, botocore.exceptions.SSOTokenLoadError,
                botocore.exceptions.UnauthorizedSSOTokenError)  # fmt: skip


def reason(exc: BaseException) -> str:
    """Name the true cause of an AWS failure and its fix, in a phrase: no network (and which endpoint), an unknown
    profile (and where it was looked for), no credentials, expired credentials, access denied (and to which action),
    throttling, or else the error's code and message."""
    if isinstance(exc, _NETWORK):
        where = getattr(exc, "kwargs", {}).get("endpoint_url", "the AWS endpoint")
        return f"cannot reach {where}: no network, or a proxy or firewall in the way"
    if isinstance(exc, botocore.exceptions.ProfileNotFound):
        files = " or ".join(dict.fromkeys(_config_files()))
        return f"AWS profile {getattr(exc, 'kwargs', {}).get('profile', '?')!r} is not in {files}: fix AWS_PROFILE"
    if isinstance(exc, botocore.exceptions.NoCredentialsError | botocore.exceptions.PartialCredentialsError):
        return (
            "no AWS credentials: set AWS_PROFILE (and run `aws sso login`), or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY"
        )
    if isinstance(exc, _SSO_EXPIRED):
        return "the AWS SSO session has expired: run `aws sso login`"
    code = error_code(exc)
    message = " ".join(str(getattr(exc, "response", {}).get("Error", {}).get("Message", exc)).split())[:300]
    if code in EXPIRED:
        return f"AWS credentials expired or invalid ({code}): refresh them (`aws sso login`, or new keys)"
    if code in DENIED or "AccessDenied" in code:
        found = re.search(r"perform: ([\w-]+:[\w*-]+)", message)
        action = found.group(1) if found else getattr(exc, "operation_name", "this call")
        return f"access denied to {action} ({code}): grant it to the caller's role or user"
    if code in THROTTLED:
        return f"AWS throttled {getattr(exc, 'operation_name', 'the call')} ({code}) after retrying: run again later"
    return f"{code}: {message}" if message and message != code else code


def _config_files() -> list[str]:
    """Where boto3 looks for profiles (AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE move them)."""
    import botocore.session

    session = botocore.session.Session()
    return [str(session.get_config_variable(name)) for name in ("config_file", "credentials_file")]
