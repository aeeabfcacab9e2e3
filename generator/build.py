"""The whole build in one function: source -> pricing (identity, prices, cost) -> report -> render -> write.

Owns the order of the stages, the strictness checks between them and each stage's log line; each stage
lives in its own module and knows nothing of the others' I/O. Budget notices and publishing are `run`'s.
"""

from __future__ import annotations

import functools
import gc
import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from generator import __version__, aws, cores, identity, memory, profiles
from generator.attribution import Attributor, Profile, api_key_id
from generator.budgets import Status
from generator.config import Settings
from generator.errors import GeneratorError, IncompleteDataError
from generator.layout import MANIFEST, MAX_FILES
from generator.modelids import profile_entry
from generator.pricing import PriceBook, load_book, pricelist
from generator.pricing.cost import Pricer
from generator.reconcile import billing, coverage, cur, demo
from generator.site import decisions, render, report, write
from generator.site.cube import DayCube
from generator.site.export import BuildMeta, dump, manifest
from generator.site.report import WindowReport
from generator.sources import SourceResult, read_source
from generator.sources.athena import AthenaRunner
from generator.stagelog import stage
from generator.state import open_store
from generator.usage import HourlyRow, Window, floor_hour, make_windows, names_in
from generator.words import listing, plural

# Files under --logs that are rightly not read: Bedrock's and CloudWatch's own side objects, a second path to a file.
BENIGN = ("body_offload_object", "permission_check_object", "export_write_test_object", "same_file_again")


@dataclass(frozen=True)
class MonthBudgets:
    """The month-to-date budget statuses of one month ("2026-12")."""

    month: str
    statuses: tuple[Status, ...]


@dataclass(frozen=True)
class BuildResult:
    """What a build wrote and what the user should know about it."""

    out: Path
    meta: BuildMeta
    reports: tuple[WindowReport, ...]
    files: int
    unpriced: dict[str, tuple[int, int]]  # logged model id -> (tokens, calls) unpriced, widest window
    billing_note: str = ""
    queries: dict[str, Any] = field(default_factory=dict)
    notices: tuple[list[str], list[str]] = ([], [])  # budget notices sent this run, and channels that failed
    source_line: str = ""  # what the source did: its queries and their cost, or the objects it read
    coverage_line: str = ""  # how much of what Bedrock counted the logs hold
    budgets: MonthBudgets | None = None  # this month's budget statuses, which the run announces

    def summary(self) -> str:
        """One line for the terminal."""
        head = next((r for r in self.reports if r.window.key == "7d"), self.reports[0])
        skipped, ignored = self.meta.skipped, self.meta.ignored
        parts = [
            f"built {self.files} files in {self.out}/ from {self.meta.records:,} records ({self.meta.source})",
            f"{head.window.key}: ${head.totals.cost:,.2f}{'' if head.totals.cost_complete else ' + unpriced'}, "
            f"{len(head.users)} people, {head.totals.invocations:,} invocations",
            skipped.describe("record", "skipped"),
        ]
        if ignored.total:
            parts.append(f"{plural(ignored.total, 'file')} not read ({ignored.reasons}; first: {ignored.examples[0]})")
        if self.meta.duplicates:
            parts.append(f"{plural(self.meta.duplicates, 'duplicate record')} dropped (same requestId)")
        if self.unpriced:
            parts.append(unpriced_line(self.unpriced))
        if self.source_line:
            parts.append(self.source_line)
        if self.queries.get("calls_without_token_counts"):
            parts.append(f"{self.queries['calls_without_token_counts']:,} successful calls logged no token counts "
                         "(guardrail-blocked, image or rerank calls)")  # fmt: skip
        if self.queries.get("late_records_found"):
            parts.append(f"{self.queries['late_records_found']:,} late records found by re-checking "
                         f"{', '.join(self.queries['rechecked_days'])}")  # fmt: skip
        if self.coverage_line:
            parts.append(self.coverage_line)
        if self.billing_note:
            parts.append(f"Cost Explorer: {self.billing_note}")
        sent, problems = self.notices
        if sent:
            parts.append(f"budget notices ({len(sent)} new this month): {'; '.join(sent)}")
        parts += problems
        return "; ".join(parts)


def _without_cycle_collector(run: Callable[[Settings], BuildResult]) -> Callable[[Settings], BuildResult]:
    """Run with Python's cycle collector off: a build's millions of sums are long-lived and hold no cycles, and each
    full collection walked all of them (a third of the report stage at 2,000 people). Refcounts still free them.
    And in one C heap (`memory.one_heap`)."""

    @functools.wraps(run)
    def wrapped(settings: Settings) -> BuildResult:
        was_on = gc.isenabled()
        gc.disable()
        memory.one_heap()
        try:
            return run(settings)
        finally:
            if was_on:
                gc.enable()

    return wrapped


@_without_cycle_collector
def build(settings: Settings) -> BuildResult:
    """Read the source, price and group the usage, and write the site to `settings.out`."""
    now = settings.now or datetime.now(UTC)
    write.check_out_dir(settings.out)
    windows = [w for w in make_windows(now, settings.tz) if w.key in settings.windows]
    with stage("source") as s:
        start = decisions.spread_start(windows)  # each window's previous period too
        source = read_source(settings.source, settings.logs, now, start, settings.cloudwatch, settings.s3,
                             settings.athena, settings.attribution.meta_keys)  # fmt: skip
        s.note(records=source.records, rows=len(source.rows), skipped=source.skipped.total)
    memory.give_back()  # what the source summed in is freed; let the system have it back
    _check_complete(settings, source)
    one_day = next((w for w in windows if w.key == "1d"), None)
    with stage("pricing") as s:  # what the bill and coverage compare, then the rows priced into the day cube in bulk
        price_list = _price_list(settings, names_in(source.rows, "region"), now)
        book = load_book(settings.prices, price_list.prices)
        found = _control_plane(settings, source.rows, now)
        people = identity.resolve(
            names_in(source.rows, "principal"), replace(settings.identity, key_owners=found.owners)
        )
        profiles = _profiles(found.profiles, settings)
        models = {**{arn: p.model for arn, p in profiles.items()}, **settings.inference_profiles}
        billed, days, rows = settings.bill != "none", _bill_days(windows), len(source.rows)
        # the demo answers for its own made-up account: its counts serve the coverage and its bill alike
        made_up = demo.metrics(source.rows, days) if settings.source == "demo" and days else None
        logged = _logged(settings, source.rows, models) if settings.coverage and days else {}
        kind_spend = billing.spend_by_kind(source.rows, book, models) if billed else {}
        widest = report.widest(windows, settings.tz)  # the window whose days the person pages show
        cube = DayCube(decisions.periods(windows), settings.tz, one_day, billed, widest)
        cube.add_all(source.rows, Pricer(book, people, models, _attributor(settings, people, profiles)), drop=True)
        s.note(rows=rows, prices=len(book.prices), profiles=len(found.profiles))
    memory.give_back()  # the cube's last sums and sorts
    with stage("reconcile") as s:  # Bedrock's own counts beside the logs', and the bill
        covered = _coverage(settings, logged, models, windows, days, now, book, made_up)
        bill = _read_bill(settings, kind_spend, days, book, made_up) if billed and days else None
        s.note(windows=len(covered), charges=len(bill.charges) if bill else 0)
    meta = BuildMeta(
        now, floor_hour(now), source.description, __version__, tuple(settings.windows), source.skipped,
        source.records, book, source.ignored, source.duplicates, price_list.note, source.backfill,
        settings.attribution.dimensions(),
    )  # fmt: skip
    queries, source_line = source.queries, source.line
    if found.problems:
        source_line = "; ".join(filter(None, [source_line, *found.problems]))
    del source  # the cube holds every sum the pages need (and let a table of hourly rows go as it read it)
    memory.give_back()
    with stage("report") as s:
        reports = tuple(cube.report(w, people) for w in windows)
        unpriced = _unpriced(reports)
        if settings.strict_pricing and unpriced:
            raise IncompleteDataError(
                f"{unpriced_line(unpriced)}; add [[prices]] entries to your config or drop --strict-pricing"
            )
        spend = cube.spend
        bills = (
            _reconcile(settings, bill, spend, kind_spend, windows, book, people) if bill and spend is not None else {}
        )
        views = decisions.make_views(cube, reports, cube.hours(), people, settings.budgets, meta.dimensions)
        del cube
        s.note(windows=len(reports), people=len({u.name for r in reports for u in r.users}))
    memory.give_back()  # the cube's pieces
    total_unpriced = (sum(t for t, _ in unpriced.values()), sum(n for _, n in unpriced.values()))
    with write.staging(settings.out) as site:  # each file written as it is made; nothing is left if the build fails
        with stage("render") as s:
            files = render.render_site(views, meta, bills, covered, cores.available(settings.cores))
            count, size = _put_site(site, files, lambda digests: dump(manifest(meta, digests, total_unpriced, queries)))
            s.note(files=count, bytes=size)
        with stage("write"):
            site.commit()
    for rep in reports:  # the people's days on disk: the pages are made
        if rep.series is not None:
            rep.series.close()
    key = "7d" if "7d" in covered else next(iter(covered), "")  # the summary's window, as for its totals
    bill_note = bill.note if bill else ""
    return BuildResult(settings.out, meta, reports, count, dict(unpriced), bill_note, dict(queries),
                       source_line=source_line, budgets=_month_budgets(settings, views),
                       coverage_line=coverage.line(covered[key], key) if key else "")  # fmt: skip


def _put_site(
    site: write.Staging, files: Iterable[tuple[str, bytes]], manifest_of: Callable[[dict[str, str]], bytes]
) -> tuple[int, int]:
    """Write each file as it comes, then the manifest of their digests; the number of files and their bytes.
    Past MAX_FILES (what a manifest may list) the build stops, and the staging folder goes with it."""
    digests: dict[str, str] = {}
    size = 0
    for path, data in files:
        if len(digests) + 1 >= MAX_FILES:
            raise GeneratorError(
                f"the site would have more files than the {MAX_FILES:,} a manifest may list; build fewer --windows, "
                "or split the organisation into several sites"
            )
        site.put(path, data)
        digests[path] = hashlib.sha256(data).hexdigest()
        size += len(data)
    listing = manifest_of(digests)
    site.put(MANIFEST, listing)
    return len(digests) + 1, size + len(listing)


def _logged(
    settings: Settings, rows: Sequence[HourlyRow], models: Mapping[str, str]
) -> dict[tuple[str, date, str], list[int]]:
    """What the logs hold per region, UTC day and model (a row that names no region is the run's region's)."""
    home = settings.aws_region or aws.default_region(settings.aws_profile) or "us-east-1"
    return coverage.logged_counts(rows, models, home)


def _coverage(
    settings: Settings,
    logged: Mapping[tuple[str, date, str], list[int]],
    models: Mapping[str, str],
    windows: list[Window],
    days: list[date],
    now: datetime,
    book: PriceBook,
    made_up: coverage.Metrics | None,
) -> dict[str, coverage.Coverage]:
    """Each window's logs (their `logged` counts) beside the AWS/Bedrock metrics of its complete UTC days (none when
    coverage is off); the demo's `made_up` counts instead of CloudWatch's."""
    if not settings.coverage or not days:
        return {}
    if made_up is not None:
        metrics = made_up
    else:
        problem = aws.credentials_problem(settings.aws_profile)
        if problem:
            note = (f"log coverage not read: {problem}; or pass --no-coverage",)
            return {w.key: coverage.Coverage(None, None, notes=note) for w in windows}
        store = open_store(settings.state, settings.aws_profile) if settings.keeps_state else None
        client_for = lambda region: aws.client("cloudwatch", profile=settings.aws_profile, region=region)  # noqa: E731
        regions = settings.coverage_regions or coverage.BEDROCK_REGIONS
        metrics = coverage.read(client_for, regions, days, store, now)
    return {w.key: coverage.compare(metrics, logged, w, models, book) for w in windows}


def _bill_days(windows: list[Window]) -> list[date]:
    """Every UTC day from the first to the last complete day of any window (the days the bill and metrics give)."""
    spans = [s for s in map(billing.complete_days, windows) if s]
    if not spans:
        return []
    first, last = min(s[0] for s in spans), max(s[1] for s in spans)
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _check_complete(settings: Settings, source: SourceResult) -> None:
    """With --strict, fail on any skipped record or unread file (Bedrock's own side objects aside)."""
    if settings.strict and source.skipped.total:
        raise IncompleteDataError(
            f"{plural(source.skipped.total, 'log record')} skipped ({source.skipped.examples[0]}, ...); "
            "fix the input or drop --strict"
        )
    unread = [f"{reason} {n}" for reason, n in source.ignored.counts if reason not in BENIGN]
    if settings.strict and unread:
        raise IncompleteDataError(
            f"files under --logs were not read ({', '.join(unread)}); fix or remove them, or drop --strict"
        )


def _month_budgets(settings: Settings, views: tuple[decisions.View, ...]) -> MonthBudgets | None:
    """This month's budget statuses, for the notices (none for the demo's made-up people)."""
    mtd = next((v for v in views if v.rep.window.key == "mtd"), None)
    if mtd is None or not mtd.budgets or settings.source == "demo":
        return None
    return MonthBudgets(mtd.rep.window.start.astimezone(settings.tz).strftime("%Y-%m"), mtd.budgets)


def _price_list(settings: Settings, regions: set[str], now: datetime) -> pricelist.Layer:
    """The AWS Price List layer for the regions calls came from, cached a day in the state store."""
    if not settings.price_list:
        return pricelist.Layer((), "")
    store = open_store(settings.state, settings.aws_profile) if settings.keeps_state else None
    client = lambda: aws.client("pricing", profile=settings.aws_profile, region="us-east-1")  # noqa: E731
    known = sorted(r for r in regions if r) or [settings.aws_region or "us-east-1"]
    return pricelist.price_list_layer(client, store, known, load_book(), now)


def _control_plane(settings: Settings, rows: Sequence[HourlyRow], now: datetime) -> profiles.Lookup:
    """The application inference profiles and API key owners the rows name, from the control plane (cached a day in
    the store); nothing is asked for when the rows name neither, or the run reads no AWS account."""
    model_ids, principals = names_in(rows, "model_id"), names_in(rows, "principal")
    asks = any(map(profiles.APP_PROFILE.match, model_ids)) or any(map(api_key_id, principals))
    if not settings.control_plane or not asks:
        return profiles.Lookup()
    store = open_store(settings.state, settings.aws_profile) if settings.keeps_state else None
    client = lambda service, region: aws.client(service, profile=settings.aws_profile, region=region or None)  # noqa: E731
    return profiles.lookup(model_ids, principals, client, store, now, settings.attribution.api_key_owner_tag)


def _profiles(found: Mapping[str, Profile], settings: Settings) -> dict[str, Profile]:
    """The application inference profiles: the control plane's, but for any the config names (by ARN or id), whose
    model, name and tags are the config's."""
    configured = settings.inference_profiles
    kept = {arn: p for arn, p in found.items() if profile_entry(configured, arn) is None}
    return {**kept, **settings.profile_details}


def _attributor(
    settings: Settings, people: Mapping[str, identity.IdentityAudit], found: Mapping[str, Profile]
) -> Attributor:
    """Who each row's calls are attributed to: request metadata, then the profile's tags, then the config's teams."""
    principals: dict[str, list[str]] = defaultdict(list)
    for principal, audit in people.items():
        principals[audit.person].append(principal)
    teams = settings.teams
    return Attributor(settings.attribution, lambda person: teams.team_of(person, principals.get(person, ())), found,
                      settings.identity.aliases, principals)  # fmt: skip


def _unpriced(reports: tuple[WindowReport, ...]) -> dict[str, tuple[int, int]]:
    """Unpriced tokens and calls per logged model id, in the window where each is largest."""
    found: dict[str, tuple[int, int]] = {}
    for rep in reports:
        per_model: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for u in rep.unpriced:
            per_model[u.model][0] += u.tokens
            per_model[u.model][1] += u.invocations
        for model, (tokens, calls) in per_model.items():
            seen = found.get(model, (0, 0))
            found[model] = (max(seen[0], tokens), max(seen[1], calls))
    return found


def unpriced_line(unpriced: dict[str, tuple[int, int]]) -> str:
    """Say how much usage has no price, and of which models."""
    tokens, calls = sum(t for t, _ in unpriced.values()), sum(n for _, n in unpriced.values())
    models = listing(sorted(unpriced))
    return f"{plural(calls, 'call')} and {plural(tokens, 'token')} unpriced, not in any cost (models: {models})"


def _read_bill(
    settings: Settings,
    kind_spend: Mapping[tuple[date, str], Decimal],
    days: list[date],
    book: PriceBook,
    made_up: coverage.Metrics | None,
) -> billing.Bill:
    """The bill of the windows' complete days: the CUR (in place, or through Athena), Cost Explorer, or the demo's
    own (from its `made_up` counts)."""
    first, last = days[0], days[-1]
    if settings.bill == "demo" and made_up is not None:
        return demo.bill(kind_spend, first, last, book, made_up)
    if settings.cur.startswith("athena:") and settings.athena is not None:
        client = aws.client("athena", profile=settings.aws_profile, region=settings.athena.region or None)
        return cur.read_cur_athena(AthenaRunner(client, settings.athena), settings.cur, first, last)
    if settings.cur:
        store = open_store(settings.state, settings.aws_profile) if settings.keeps_state else None
        s3 = lambda: aws.client("s3", profile=settings.aws_profile)  # noqa: E731
        return cur.read_cur(settings.cur, first, last, s3, store)
    client = aws.client("ce", profile=settings.aws_profile, region="us-east-1")
    return billing.fetch_bill(client, first, last + timedelta(days=1))


def _reconcile(
    settings: Settings,
    bill: billing.Bill,
    spend: Mapping[tuple[date, str, str], Decimal],
    kind_spend: Mapping[tuple[date, str], Decimal],
    windows: list[Window],
    book: PriceBook,
    people: Mapping[str, identity.IdentityAudit],
) -> dict[str, billing.Reconciliation]:
    """The bill beside each window's estimate; a principal the bill names is the person the logs' identity rules
    make of it."""
    named = {c.principal for c in bill.charges if c.principal}
    found = identity.resolve(named, settings.identity) if named else {}
    person_of = lambda principal: (people.get(principal) or found[principal]).person  # noqa: E731
    return {w.key: billing.reconcile(spend, w, bill, book, kind_spend, person_of) for w in windows}
