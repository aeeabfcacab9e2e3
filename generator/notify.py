"""Budget notices: tell people once when a budget crosses 80% or 100% of its month, by spend or by forecast.

Owns the notice text, where it goes (a Slack or Teams incoming webhook, an SNS topic, and always a
line in the run's summary for a timer's log), and the record of what each month has already said,
kept in the state store: a threshold crossed is announced once per month, never again on later runs.
A channel that fails is reported and retried on the next run; the build never fails for it.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

from generator import aws, state
from generator.aws import AWS_ERRORS, reason
from generator.budgets import Status, crossings
from generator.errors import SourceError

TIMEOUT = 10  # seconds a webhook may take


def notice(key: str, s: Status) -> str:
    """One line: `peterdir over budget: $167.28 of $150.00 (112%) this month`."""
    _, basis, level = key.split("|")
    amount = s.actual if basis == "actual" else (s.forecast or s.actual)
    what = "over budget" if level == "over" else "near budget (80%)"
    verb = "spent" if basis == "actual" else "forecast for the month"
    return f"{s.label} {what}: {verb} ${amount:,.2f} of ${s.budget:,.2f} ({amount * 100 / s.budget:.0f}%)"


def announce(
    statuses: Sequence[Status],
    month: str,
    store: state.Store,
    webhook: str = "",
    topic: str = "",
    profile: str | None = None,
) -> tuple[list[str], list[str]]:
    """Send the crossings this month has not announced yet; return (notices sent, problems)."""
    name = f"budgets/notified-{month}.json"
    try:
        said = set(json.loads(store.read_blob(name) or b"[]"))
    except (ValueError, SourceError):
        said = set()
    new = [(key, s) for key, s in crossings(statuses) if key not in said]
    if not new:
        return [], []
    keys = {k for k, _ in new}
    # a budget that went straight past 100% says "over" once, not "near" too
    lines = [notice(k, s) for k, s in new if not (k.endswith("|near") and k[: -len("near")] + "over" in keys)]
    problems = []
    text = f"Bedrock budgets, {month}:\n" + "\n".join(f"- {line}" for line in lines)
    if webhook:
        problems += _post(webhook, {"text": text})
    if topic:
        problems += _publish(topic, f"Bedrock budgets: {len(lines)} new in {month}", text, profile)
    if not problems:
        try:
            store.write_blob(name, json.dumps(sorted(said | {k for k, _ in new})).encode())
        except SourceError as exc:
            problems.append(f"notices sent but not recorded ({exc}): they may repeat")
    return lines, problems


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A webhook that redirects is refused: a redirect could lead the job to any address (a metadata service)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def _post(url: str, body: dict[str, Any]) -> list[str]:
    """POST within a total deadline (a server that drips a byte every few seconds never holds the run); what went
    wrong is said without the URL, whose path is the webhook's secret."""
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    outcome: list[str] = []

    def send() -> None:
        try:
            with _OPENER.open(request, timeout=TIMEOUT) as response:
                if not 200 <= response.status < 300:
                    outcome.append(f"it answered HTTP {response.status}")
                response.read(65536)
        except urllib.error.HTTPError as exc:
            outcome.append(
                f"it answered HTTP {exc.code}" + (" (a redirect, not followed)" if 300 <= exc.code < 400 else "")
            )
        except (OSError, ValueError) as exc:
            outcome.append(type(exc).__name__)
        else:
            outcome.append("")

    worker = threading.Thread(target=send, daemon=True, name="budget-webhook")
    worker.start()
    worker.join(TIMEOUT)
    problem = outcome[0] if outcome else f"no answer within {TIMEOUT} s"
    return [f"the budget webhook failed ({problem}); it is tried again next run"] if problem else []


def _publish(topic: str, subject: str, text: str, profile: str | None) -> list[str]:
    try:
        aws.client("sns", profile=profile, region=topic.split(":")[3]).publish(
            TopicArn=topic, Subject=subject[:100], Message=text
        )
    except AWS_ERRORS as exc:
        return [f"the budget topic failed ({reason(exc)}); it is tried again next run"]
    return []
