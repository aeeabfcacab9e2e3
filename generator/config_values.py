"""Parsers for single settings: each turns a raw value into a checked one or says what is wrong.

Pure: no environment, no files. Used by `config.load_settings`, which collects their errors.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from generator.layout import STATE_PREFIX
from generator.usage import WINDOW_KEYS

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")


def roles(arns: list[str], errors: list[str]) -> tuple[str, ...]:
    """Roles in other accounts to read (ASSUME_ROLES, comma-separated ARNs; at most one per account)."""
    bad = [a for a in arns if not _ROLE_ARN.match(a)]
    if bad:
        errors.append(
            f"ASSUME_ROLES: {bad[0]!r} is not a role ARN like arn:aws:iam::210987654321:role/bedrock-usage-read"
        )
        return ()
    accounts = [a.split(":")[4] for a in arns]
    if len(set(accounts)) != len(accounts):
        errors.append("ASSUME_ROLES: give at most one role per account")
        return ()
    return tuple(arns)


def recheck_days(raw: object, errors: list[str]) -> tuple[int, ...]:
    """Ages in days at which settled days are read again (RECHECK_DAYS, e.g. 1,7; "none" for never)."""
    if raw is None:
        return (1,)
    text = str(raw).strip().lower()
    if text in ("none", "0", ""):
        return ()
    try:
        days = tuple(sorted({int(d) for d in text.split(",")}))
    except ValueError:
        days = (0,)
    if not all(1 <= d <= 14 for d in days):
        errors.append(f"RECHECK_DAYS: give days from 1 to 14 (CloudWatch takes events up to 14 days old), not {raw!r}")
        return (1,)
    return days


def deadline(raw: object, errors: list[str]) -> float:
    """Seconds the Insights queries may take (INSIGHTS_DEADLINE: the stack sets it below the Lambda's timeout)."""
    if raw is None:
        return 900.0
    try:
        seconds = float(str(raw))
    except ValueError:
        seconds = -1.0
    if not 10 <= seconds <= 86_400:
        errors.append(f"INSIGHTS_DEADLINE: give seconds from 10 to 86400, not {raw!r}")
        return 900.0
    return seconds


def given(cli: Mapping[str, Any], key: str, default: Any) -> Any:
    """A CLI value when one was given (0 included), else the default."""
    value = cli.get(key)
    return default if value is None else value


_PREFIX_SEGMENT = re.compile(r"^[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,100}$")


_RATE = re.compile(r"rate\((\d{1,6}) (minute|minutes|hour|hours|day|days)\)")
_UNIT = {"minute": 60, "hour": 3600, "day": 86400}


def stale_after(raw: object) -> int:
    """Seconds without a publish after which a scheduled run fails: two intervals of SCHEDULE (rate(1 hour) is
    7,200; a cron expression, whose interval varies, two days)."""
    text = str(raw).strip()
    if text.startswith("cron("):
        return 2 * 86400
    match = _RATE.fullmatch(text)
    if not match or int(match.group(1)) < 1:
        raise ValueError(f"{text[:80]!r} is not rate(N minutes|hours|days) or cron(...)")
    return 2 * int(match.group(1)) * _UNIT[match.group(2).rstrip("s")]


def parse_prefix(raw: object) -> str:
    """A key prefix of plain path segments: never `..`, an empty segment, or the state's own prefix."""
    text = str(raw).strip().strip("/")
    if not text:
        return ""
    segments = text.split("/")
    bad = next((s for s in segments if not _PREFIX_SEGMENT.match(s) or set(s) == {"."}), None)
    if bad is not None or len(segments) > 10:
        shown = "an empty segment" if bad == "" else f"segment {bad!r}" if bad is not None else "more than 10 segments"
        raise ValueError(
            f"{shown} in {str(raw)!r}: use plain folder names (letters, digits, . _ ~ -) separated by /, "
            "such as usage/ or team-a/usage/"
        )
    if (text + "/").startswith(STATE_PREFIX) or segments[0] == STATE_PREFIX.strip("/"):
        raise ValueError(f"{text!r} is the store's own prefix ({STATE_PREFIX}); choose another")
    return text + "/"


def parse_price(raw: object) -> Decimal:
    try:
        price = Decimal(str(raw).strip())
    except ArithmeticError:
        raise ValueError(f"{raw!r} is not a number of US dollars such as 0.005") from None
    if not price.is_finite() or price < 0:
        raise ValueError(f"{raw!r} must be a non-negative number of US dollars such as 0.005")
    return price


def parse_flag(raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{raw!r} is not true or false (use true/false, yes/no, 1/0)")


def names_of(raw: str | tuple[str, ...] | None) -> list[str]:
    """Split a comma- or space-separated setting (or take a CLI tuple), dropping empty names."""
    if not raw:
        return []
    return raw.replace(",", " ").split() if isinstance(raw, str) else [n for n in raw if n]


def parse_timezone(raw: str) -> str:
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {raw!r} (use an IANA name such as Europe/Berlin)") from None
    return raw


def parse_cidrs(raw: str | tuple[str, ...]) -> tuple[IPNetwork, ...]:
    parts = names_of(raw)
    nets = []
    for part in parts:
        try:
            nets.append(ipaddress.ip_network(part))
        except ValueError as exc:
            raise ValueError(f"bad CIDR {part!r}: {exc}") from None
    return tuple(nets)


def parse_windows(raw: str | tuple[str, ...]) -> tuple[str, ...]:
    keys = names_of(raw)
    unknown = [k for k in keys if k not in WINDOW_KEYS]
    if unknown or not keys:
        raise ValueError(f"unknown window {', '.join(unknown) or '(none)'} (use {', '.join(WINDOW_KEYS)})")
    return tuple(k for k in WINDOW_KEYS if k in keys)


def parse_now(raw: str | datetime) -> datetime:
    moment = raw if isinstance(raw, datetime) else None
    if moment is None:
        try:
            moment = datetime.fromisoformat(str(raw))
        except ValueError:
            raise ValueError(f"{raw!r} is not an ISO 8601 time such as 2025-06-30T12:00:00Z") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_webhook(raw: object) -> str:
    """An https:// incoming-webhook URL (Slack, Teams) for budget notices (http:// only to this machine)."""
    text = str(raw).strip()
    if not re.fullmatch(r"(https://[A-Za-z0-9.-]+|http://(127\.0\.0\.1|localhost))(:\d+)?(/[^\s\"'<>]*)?", text):
        # never echoed: a webhook URL's path is its secret
        raise ValueError("it is not an https:// webhook URL (https://host/path, no spaces or quotes)")
    return text


def parse_topic(raw: object) -> str:
    """An SNS topic ARN for budget notices."""
    text = str(raw).strip()
    if not re.fullmatch(r"arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}", text):
        raise ValueError(f"{text[:60]!r} is not an SNS topic ARN")
    return text
