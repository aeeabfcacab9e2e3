"""AWS Lambda entry point: the scheduled `bedrock-usage publish`, configured by the function's environment.

Owns nothing but the glue: settings come from the environment (BUCKET, DISTRIBUTION_ID, SOURCE,
LOG_GROUP, STATE, ...), the site is built in /tmp, and any failure is raised so that Lambda counts
it (the stack's alarm and dead-letter queue see it).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def handler(event: Mapping[str, Any], context: Any) -> dict[str, str]:
    """Build and publish the site once."""
    from generator.config import deadline_within, load_settings
    from generator.deploy.cloudformation import DEADLINE_MARGIN
    from generator.publish import Options
    from generator.run import publish_site
    from generator.stagelog import configure

    configure(always=True)  # each stage's time and size in the function's log
    given: dict[str, str] = {}
    if context is not None and hasattr(context, "get_remaining_time_in_millis"):
        # the queries stop while this run still has time to price, render and publish: a backfill that the
        # timeout would cut off keeps what it finished instead
        given = deadline_within(context.get_remaining_time_in_millis() / 1000 - DEADLINE_MARGIN)
    with tempfile.TemporaryDirectory(prefix="bedrock-usage-") as tmp:
        settings = load_settings({"out": Path(tmp) / "site", **given}, env_file=None, publish=True)
        result = publish_site(settings, Options())
    outcome = result.outcome.summary(len(result.plan.skipped)) if result.outcome else "dry run"
    summary = {"build": result.build.summary(), "publish": outcome}
    print(json.dumps(summary))  # one line in the function's log
    return summary
