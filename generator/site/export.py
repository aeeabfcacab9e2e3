"""The public data files: `usage-<w>.json`, `usage-<w>.csv`, `pricing.json` and the manifest.

Owns the JSON contract (schema_version, field names, the old dashboard's `/api/usage` keys).
Pure: turns report models into plain dicts and bytes; never writes files.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Context, Decimal
from typing import Any

import msgspec
import numpy as np

from generator.budgets import Status
from generator.counters import FIELDS, MONEY, Counters, compiled, public_name, public_names
from generator.identity import caller_named
from generator.layout import TOOL
from generator.pricing import Price, PriceBook
from generator.pricing.cost import dollars
from generator.reconcile.billing import Line, Reconciliation
from generator.reconcile.coverage import Coverage, mantle_cost
from generator.site.decisions import Forecast, Projection, View
from generator.site.report import Cell, Table, WindowReport
from generator.skips import SkipReport
from generator.usage import iso

# 7: the old dashboard's per-person keys (user_*) leave the window file, which lists each person once, in `users`
# (under 10 MB at 10,000 people); 6: budgets[].status and severity (one phrase for every page);
# 5: `coverage`; 4: `tags` and users[].via (request metadata, inference profiles)
SCHEMA_VERSION = 7
_MICRO = Decimal("0.000001")
_WIDE = Context(prec=60)  # quantizing any sum of bounded counts x prices never overflows the precision


@dataclass(frozen=True)
class BuildMeta:
    """Facts about one build that every page and file repeats."""

    generated_at: datetime
    data_through: datetime
    source: str
    version: str
    windows: tuple[str, ...]
    skipped: SkipReport
    records: int
    book: PriceBook
    ignored: SkipReport = field(default_factory=SkipReport)  # files not read, by reason
    duplicates: int = 0  # records dropped as already counted (same requestId)
    price_note: str = ""  # how the AWS Price List layer was obtained ("" when not asked for)
    backfill: str = ""  # the source's "backfilling: N of M days of logs read ..." until a first read is done
    dimensions: tuple[str, ...] = ()  # the breakdowns beside people, models and teams (tag keys, inference profile)


def usd(amount: Decimal) -> float:
    """Round dollars to a millionth for JSON (money stays Decimal until here)."""
    return float(amount.quantize(_MICRO, context=_WIDE))


def usd_units(units: np.ndarray, exponent: int) -> list[float]:
    """Money units (10**-exponent dollars) as `usd` writes their dollars: to the millionth, half to even, the nearest
    float (a whole number of millionths over a million: the division is exact to the float, as Decimal's is)."""
    step = 10 ** (exponent - 6)
    if units.dtype != object and step < 1 << 61:
        whole, left = np.divmod(units, step)
        whole += (2 * left > step) | ((2 * left == step) & (whole % 2 == 1))
        if not len(whole) or int(np.abs(whole).max()) < 1 << 53:  # what a float holds exactly
            found: list[float] = (whole / 1e6).tolist()
            return found
    return [usd(dollars(u, exponent)) for u in units.tolist()]  # Decimal's way


def _json_lines() -> list[str]:
    """The body of `counters`: one dict entry per counter and derived flag, in the files' order."""
    index = {public_name(f): i for i, f in enumerate(FIELDS)}
    entries = []
    for name in public_names():
        i = index.get(name)
        value = f"c.{name}" if i is None else f"usd(c[{i}])" if FIELDS[i] in MONEY else f"c[{i}]"  # derived: a property
        entries.append(f"{name!r}: {value}")
    return ["return {" + ", ".join(entries) + "}"]


# counters(c): a set of counters as the JSON files write it, every counter of the definition in its order
counters: Callable[[Counters], dict[str, Any]] = compiled("counters(c)", _json_lines(), {"usd": usd})


def usage_payload(
    view: View, meta: BuildMeta, bill: Reconciliation | None = None, cov: Coverage | None = None
) -> dict[str, Any]:
    """Return the `usage-<w>.json` document for one window. It names each person once, in `users` (their models
    and days are in their person file, each day by model in `daily-<w>.csv`), so it grows with people, not with
    people x models x days."""
    rep = view.rep
    name = meta.book.name_of
    named = caller_named(rep.identities)
    days = [d.isoformat() for d in rep.days]

    def with_previous(kind: str, group: Any) -> dict[str, Any]:
        before = view.before(kind, group.name)
        return {**counters(group.counters), "previous": counters(before.counters) if before else None}

    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "window": {
            "key": rep.window.key,
            "label": rep.window.label,
            "start": iso(rep.window.start),
            "end": iso(rep.window.end),
            "timezone": rep.timezone,
        },
        "generated_at": iso(meta.generated_at),
        "data_through": iso(meta.data_through),
        "totals": counters(rep.totals) | {"people": len(rep.users), "models": len(rep.models),
                                          "previous": counters(view.previous.totals) if view.previous else None},
        "previous_period": {"start": iso(view.previous.window.start), "end": iso(view.previous.window.end),
                            "complete": view.previous_complete} if view.previous else None,
        "logs_start": iso(view.logs_start) if view.logs_start else None,
        "partial_days": sorted(d.isoformat() for d in view.partial_days),
        "users": [
            {"name": u.name, "caller_chosen_name": u.name in named, "team": view.team_of.get(u.name, ""),
             "person_file": f"person/{slug(u.name)}.json", **with_previous("users", u),
             "via": [{"name": v.name, **counters(v.counters)} for v in view.via.get(u.name, ())]}
            for u in rep.users
        ],
        "models": [
            {"model": m.name, "name": name(m.name), **with_previous("models", m), "routes": _by_route(m.cells),
             "price_source": rep.price_source(m.name)}
            for m in rep.models
        ],
        "teams": [{"team": t.name, "people": sorted({c.person for c in t.cells}), **with_previous("teams", t)}
                  for t in view.teams],
        "tags": {name: [{"value": g.name, **with_previous(f"dim:{name}", g)} for g in groups]
                 for name, groups in view.dims},
        "daily_file": f"daily-{rep.window.key}.csv",
        "days": days,
        "forecast": forecast_payload(view.forecast) if view.forecast else None,
        "budgets": [budget_payload(b) for b in view.budgets],
        "unpriced_models": [
            {"model": u.model, "route": u.route, "tokens": u.tokens, "invocations": u.invocations, "reason": u.reason}
            for u in rep.unpriced
        ],
        "accounts": [{"account": a.name, **with_previous("accounts", a)} for a in rep.accounts],
        "inferred_prices": [
            {"model": i.model, "priced_as": i.priced_as, "invocations": i.invocations} for i in rep.inferred
        ],
        "identities": [{"principal": i.principal, "person": i.person, "rule": i.rule,
                        "caller_chosen": i.caller_chosen} for i in rep.identities],
    }  # fmt: skip
    doc["billing"] = billing_payload(bill) if bill is not None else None
    doc["coverage"] = coverage_payload(cov, meta.book) if cov is not None else None
    doc.update(legacy_keys(rep, days, meta))
    return doc


def forecast_payload(fc: Forecast) -> dict[str, Any]:
    """The month-end projection: run rate so far over the hours left, with a range."""

    def one(p: Projection) -> dict[str, float]:
        return {"actual_usd": usd(p.actual), "projected_usd": usd(p.projected), "low_usd": usd(p.low),
                "high_usd": usd(p.high)}  # fmt: skip

    return {
        "month_end": iso(fc.month_end), "elapsed_hours": fc.elapsed_hours, "remaining_hours": fc.remaining_hours,
        "days_measured": fc.days_measured, "total": one(fc.total),
        "users": [{"name": n, **one(p)} for n, p in fc.people.items()],
        "teams": [{"team": n, **one(p)} for n, p in fc.teams.items()],
    }  # fmt: skip


def budget_payload(b: Status) -> dict[str, Any]:
    return {
        "scope": b.scope, "name": b.name, "budget_usd": usd(b.budget), "actual_usd": usd(b.actual),
        "forecast_usd": usd(b.forecast) if b.forecast is not None else None, "level": b.level,
        "forecast_level": b.forecast_level, "status": b.status, "severity": b.severity, "cost_complete": b.complete,
    }  # fmt: skip


def slug(name: str) -> str:
    """A file name for a person or team: safe for any name and unique (a hash of the whole name ends it)."""
    text = re.sub(r"[^a-z0-9]+", "-", unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower())
    return f"{text.strip('-')[:40].strip('-') or 'x'}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def coverage_payload(cov: Coverage, book: PriceBook) -> dict[str, Any]:
    """The logs beside Bedrock's own counts (CloudWatch AWS/Bedrock metrics) over the window's complete UTC days."""
    names = ("invocations", "input_tokens", "output_tokens")
    last = cov.last_day
    return {
        "first_day": cov.first_day.isoformat() if cov.first_day else None,
        "last_day": last.isoformat() if last else None,
        "share": round(cov.share, 4) if cov.share is not None else None,
        **{n: {"counted": c, "logged": g} for n, c, g in zip(names, cov.counted, cov.logged, strict=True)},
        "gaps": [{"region": g.region, "model": g.model, "day": g.day.isoformat(), "counted": g.counted,
                  "logged": g.logged, "share": round(g.share, 4)} for g in cov.gaps],
        "delivery_failures": [{"region": r, "day": d.isoformat(), "metric": m, "count": n}
                              for r, d, m, n in cov.delivery_failures],
        "unlogged_regions": [{"region": r, "invocations": n} for r, n in cov.unlogged_regions],
        "tiers": [{"model": m, "tier": t, "invocations": n, "share": round(n / every, 4),
                   "adjustment_usd": None if change is None else float(change.quantize(_MICRO))}
                  for m, t, n, every, change in cov.tiers],
        "mantle": [{"region": r, "model": m, "invocations": n, "input_tokens": i, "output_tokens": o,
                    "estimated_usd": None if last is None or (c := mantle_cost(book, r, m, last, i, o)) is None
                    else usd(c)} for r, m, n, i, o in cov.mantle],
        "notes": list(cov.notes),
    }  # fmt: skip


def billing_payload(bill: Reconciliation) -> dict[str, Any]:
    """The estimate beside the AWS bill, for the complete UTC days of the window."""

    def lines(items: tuple[Line, ...]) -> list[dict[str, Any]]:
        return [
            {"name": x.name, "billed_usd": usd(x.billed), "estimated_usd": usd(x.estimated),
             "difference_usd": float(x.difference.quantize(_MICRO))}
            for x in items
        ]  # fmt: skip

    off_by = bill.off_by
    return {
        "source": bill.source,
        "first_day": bill.first_day.isoformat() if bill.first_day else None,
        "last_day": bill.last_day.isoformat() if bill.last_day else None,
        "note": bill.note,
        "unallocated_usd": usd(bill.unallocated),
        "services": lines(bill.services),
        "people": lines(bill.people),
        "people_by_principal": bill.by_principal,
        "days": lines(bill.days),
        "kinds": lines(bill.kinds),
        "day_kinds": [
            {"day": day.isoformat(), "kind": x.name, "billed_usd": usd(x.billed), "estimated_usd": usd(x.estimated)}
            for day, x in bill.day_kinds
        ],
        "not_in_logs_usd": usd(sum((k.billed for k in bill.not_in_logs), Decimal(0))),
        "not_in_logs": [{"kind": k.name, "billed_usd": usd(k.billed)} for k in bill.not_in_logs],
        "estimate_off_by": round(off_by, 4) if off_by is not None else None,
    }


def _by_route(cells: Table[Cell] | tuple[()]) -> list[dict[str, Any]]:
    return [{"route": route, **counters(c)} for (route,), c in cells.totals(("route",))] if cells else []


def legacy_keys(rep: WindowReport, days: list[str], meta: BuildMeta) -> dict[str, Any]:
    """The old Flask dashboard's `/api/usage` keys, so its consumers keep working; but for its maps of people
    (user_*: 31 MB at 10,000 people), whose figures are in `users`, the usage CSV and the person files."""

    def prompt(c: Counters) -> int:
        # The old dashboard's "input" was inputTokenCount + cacheWriteInputTokenCount (cache reads apart).
        return c.input_tokens + c.cache_write_tokens

    daily_inv: dict[str, int] = dict.fromkeys(days, 0)
    daily_cost: dict[str, Decimal] = dict.fromkeys(days, Decimal(0))
    named = dict(zip(rep.days, days, strict=True))
    for (on, _), k in rep.day_models.items():
        daily_inv[named[on]] += k.invocations
        daily_cost[named[on]] += k.cost
    t = rep.totals
    return {
        "model_usage": {m.name: m.counters.invocations for m in rep.models},
        "model_costs": {m.name: usd(m.counters.cost) for m in rep.models},
        "model_tokens": {m.name: {"input": prompt(m.counters), "output": m.counters.output_tokens} for m in rep.models},
        "model_display_names": {m.name: meta.book.name_of(m.name) for m in rep.models},
        "daily_trend": daily_inv,
        "daily_costs": {d: usd(v) for d, v in daily_cost.items()},
        "total_cost": usd(t.cost),
        "total_input_tokens": prompt(t),
        "total_output_tokens": t.output_tokens,
        "total_events": t.invocations,
        "date_range": f"{days[0]} to {days[-1]}" if days else "",
    }  # fmt: skip


STALE_DAYS = 90


def pricing_payload(meta: BuildMeta) -> dict[str, Any]:
    """Return `pricing.json`: every price in effect for this build, with its layer, source and age."""

    def num(v: Decimal | None) -> float | None:
        return None if v is None else float(v)

    today = meta.generated_at.date()
    return {
        "schema_version": SCHEMA_VERSION,
        "unit": "USD per 1M tokens (per unit where `unit` is image or query)",
        "price_list": meta.price_note or "not read (PRICE_LIST off): layers are config and the bundled book",
        "stale_after_days": STALE_DAYS,
        "prices": [
            {"model": p.model, "name": p.name, "route": p.route, "regions": list(p.regions),
             "prefixes": list(p.prefixes), "unit": p.unit, "per_unit": num(p.per_unit), "input": num(p.input),
             "output": num(p.output), "cache_read": num(p.cache_read), "cache_write": num(p.cache_write),
             "cache_write_1h": num(p.cache_write_1h), "batch": num(p.batch),
             "effective_from": p.effective_from.isoformat(),
             "effective_to": p.effective_to.isoformat() if p.effective_to else None, "source": p.source,
             "layer": p.origin, "checked": p.checked.isoformat() if p.checked else None,
             "disputed": p.disputed or None, "long_context_above": p.long_above or None,
             "long_context": dict(zip(("input", "output", "cache_read", "cache_write", "cache_write_1h"),
                                      map(num, p.long), strict=True)) if p.long_above else None,
             "stale": is_stale(p, today)}
            for p in meta.book.prices
        ],
    }  # fmt: skip


def is_stale(price: Price, today: date) -> bool:
    """A price whose source was last checked more than STALE_DAYS before `today` (config prices are yours)."""
    return price.origin != "config" and (price.checked is None or (today - price.checked).days > STALE_DAYS)


def manifest(
    meta: BuildMeta,
    files: Mapping[str, str],
    unpriced: tuple[int, int],
    queries: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Return `manifest.json`: what was built, from what, and every file's sha256 (`files`: site path -> sha256)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "generated_at": iso(meta.generated_at),
        "data_through": iso(meta.data_through),
        "source": meta.source,
        "tool": {"name": TOOL, "version": meta.version},
        "windows": list(meta.windows),
        "records_read": meta.records,
        "skipped_records": meta.skipped.as_dict(),
        "files_not_read": meta.ignored.as_dict(),
        "duplicate_records_dropped": meta.duplicates,
        "unpriced_tokens": unpriced[0],
        "unpriced_invocations": unpriced[1],
        "queries": dict(queries or {}),
        "backfill": meta.backfill or None,
        "files": dict(sorted(files.items())),
    }


def dump(doc: Any) -> bytes:
    """Serialise a JSON document the same way every time (msgspec: ~5x faster than json for big windows)."""
    return msgspec.json.encode(doc) + b"\n"
