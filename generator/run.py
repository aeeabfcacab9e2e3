"""What a command runs, composed from the stages: build, then budget notices, then publish.

Owns the order of the world-changing steps after a build (tell people about budgets, upload under
the lock, invalidate CloudFront) and the AWS clients they use. `build` knows none of them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from generator import aws, lock, notify, publish
from generator.aws import AWS_ERRORS
from generator.build import BuildResult, build
from generator.config import Settings
from generator.errors import ConfigError, PublishError
from generator.layout import key_prefix
from generator.stagelog import stage
from generator.state import open_store


def build_site(settings: Settings, notify_budgets: bool = True) -> BuildResult:
    """Build the site, then announce this month's budget crossings unless `notify_budgets` is False."""
    built = build(settings)
    if not notify_budgets or built.budgets is None:
        return built
    with stage("notify") as s:
        store = open_store(settings.state, settings.aws_profile)
        notices = notify.announce(built.budgets.statuses, built.budgets.month, store, settings.budget_webhook,
                                  settings.budget_topic, settings.aws_profile)  # fmt: skip
        s.note(notices=len(notices[0]), failed=len(notices[1]))
    return dataclasses.replace(built, notices=notices)


@dataclass(frozen=True)
class PublishResult:
    """What a publish built, planned and did."""

    build: BuildResult
    plan: publish.Plan
    outcome: publish.Outcome | None  # None for a dry run, or when another publish held the lock
    busy: str = ""  # who held the lock, when this run published nothing


def publish_site(
    settings: Settings, options: publish.Options, progress: Callable[[int, int], None] | None = None
) -> PublishResult:
    """Build the site (a dry run tells no one of budgets), then sync it to S3 in a safe order and invalidate
    CloudFront."""
    if not settings.bucket:
        raise ConfigError("publish needs a bucket: --bucket NAME or BUCKET=NAME")
    built = build_site(settings, notify_budgets=not options.dry_run)
    with stage("publish") as s:
        result = _sync(settings, options, built, progress)
        s.note(uploads=len(result.plan.uploads), deletes=len(result.plan.deletes))
    return result


def _sync(
    settings: Settings, options: publish.Options, built: BuildResult, progress: Callable[[int, int], None] | None
) -> PublishResult:
    """Plan and apply the upload under the publish lock (a dry run plans without it)."""
    assert settings.bucket is not None
    local = publish.read_site(settings.out)
    prefix = key_prefix(settings.prefix)
    s3 = aws.client("s3", profile=settings.aws_profile, region=settings.aws_region, endpoint_url=options.endpoint_url)
    remote = publish.Remote(s3, settings.bucket, prefix)
    held = None
    try:
        if not options.dry_run:  # one publisher at a time: the plan is made and applied under the lock
            held = lock.acquire(s3, settings.bucket, lock.lock_key(prefix), wait=options.lock_wait)
        published, problem = remote.published()
        the_plan = publish.plan(
            local, remote.list(local, published), published, published_problem=problem,
            delete=options.delete, max_deletes=options.max_deletes, force=options.force, adopt=options.adopt,
        )  # fmt: skip
        if options.dry_run:
            return PublishResult(built, the_plan, None)
        cloudfront = None
        if settings.distribution_id:
            # --endpoint-url names an S3-compatible store; CloudFront is AWS's (AWS_ENDPOINT_URL_CLOUDFRONT overrides)
            cloudfront = aws.client("cloudfront", profile=settings.aws_profile)
        outcome = publish.apply(
            the_plan, local, remote, max_age=options.max_age, concurrency=options.concurrency,
            cloudfront=cloudfront, distribution_id=settings.distribution_id, progress=progress,
        )  # fmt: skip
    except lock.Busy as busy:
        _fail_if_stale(settings, remote)
        return PublishResult(built, publish.Plan((), (), ()), None, str(busy))
    except AWS_ERRORS as exc:
        raise PublishError(f"cannot publish to s3://{settings.bucket}/{prefix} ({aws.reason(exc)})") from None
    finally:
        if held is not None:
            held.release()
    return PublishResult(built, the_plan, outcome)


def _fail_if_stale(settings: Settings, remote: publish.Remote) -> None:
    """A scheduled run that found the lock held: fail (so the alarm fires) when the site has not been published
    for longer than two intervals of its schedule; a lock that keeps every run out must not look like success."""
    if settings.stale_after is None:
        return
    now = (settings.now or datetime.now(UTC)).timestamp()
    published = remote.published_at()
    if published is None or now - published.timestamp() > settings.stale_after:
        since = f"since {published:%Y-%m-%d %H:%M} UTC" if published else "ever"
        raise PublishError(
            f"another publish holds the lock and the site has not been published {since}, longer than two "
            f"scheduled intervals ({settings.stale_after // 60} minutes): look for a stuck or failing publisher"
        )
