"""The data each overview page embeds for its charts: top people and models plus "other".

Owns the reduction that keeps charts readable and pages light at any size (500 people x 40
models draw as 10 + other); the tables and JSON files keep the full lists. Pure.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from generator.counters import Counters
from generator.pricing import PriceBook
from generator.site.decisions import View
from generator.site.export import usd
from generator.site.report import Group

# Ten mid-tone colours, each at least 3:1 against the light and the dark theme's backgrounds, in an order whose
# neighbours stay far apart for normal vision and the three colour-vision deficiencies (tests/test_palette.py).
PALETTE = ("#3b75d9", "#d4711a", "#8a5cd6", "#2e9e5b", "#d14f9a", "#a88a1c", "#6b7a99", "#d64545", "#1a9ba8",
           "#9c6b43")  # fmt: skip
OTHER_COLOR = "#9aa4b0"
TOP_PEOPLE = 10
TOP_MODELS = 8
OTHER = "other"
TOKEN_KINDS = (("input", "input_tokens"), ("output", "output_tokens"),
               ("cache read", "cache_read_tokens"), ("cache write", "cache_write_tokens"))  # fmt: skip


MAX_SHOWN = 256  # characters of a name shown on pages; the JSON files and the identity audit keep it whole


def shorten(name: str) -> str:
    """Cut a display name past MAX_SHOWN characters, marking the cut."""
    return name if len(name) <= MAX_SHOWN else name[: MAX_SHOWN - 1] + "…"


def _top(groups: tuple[Group, ...], n: int) -> tuple[list[str], Callable[[str], str]]:
    names = [g.name for g in groups[:n]]
    keep = set(names)
    if len(groups) > n:
        names.append(OTHER)
    return names, lambda name: name if name in keep else OTHER


def most_called(models: Sequence[Group]) -> tuple[Group, ...]:
    """Models by invocations, most first (the doughnut's order; the tables rank by cost)."""
    return tuple(sorted(models, key=lambda g: (-g.counters.invocations, g.name)))


def colours(charts: Iterable[Sequence[str]]) -> dict[str, str]:
    """A colour for each name, the same on every page and window of a build. `charts` are the names each chart
    draws together, the most important first; names are taken in the order first met and each takes the first
    palette colour no name it shares a chart with has (else the least shared), so the widest window's top series
    take the palette in order (neighbours far apart). `distinct` settles what clashes in one chart."""
    together: dict[str, set[str]] = defaultdict(set)
    for names in charts:
        for name in names:
            together[name].update(names)
    taken: dict[str, str] = {}
    for name in together:  # dicts keep the order names were first met in
        shared = [taken[other] for other in together[name] if other in taken]
        taken[name] = min(PALETTE, key=shared.count)  # a free colour, the first; else the least shared
    return taken


def distinct(palette: dict[str, str], names: Sequence[str]) -> dict[str, str]:
    """The colours of names one chart draws together: each its build-wide colour, unless a name before it here has
    that colour; then the first colour no name here has (the same ten never share one)."""
    out: dict[str, str] = {}
    for name in names:
        if name == OTHER or name in out:
            continue
        colour, used = palette.get(name, OTHER_COLOR), set(out.values())
        out[name] = colour if colour not in used else next((c for c in PALETTE if c not in used), colour)
    return out


def drawn_names(views: Sequence[View], book: PriceBook) -> list[list[str]]:
    """The person and model labels each chart of the build draws together (the top of each window; a person's
    page draws any of the models), the widest window first."""
    found = []
    for v in sorted(views, key=lambda v: v.rep.window.start - v.rep.window.end):
        found.append([shorten(g.name) for g in v.rep.users[:TOP_PEOPLE]])
        found.append([book.name_of(g.name) for g in v.rep.models[:TOP_MODELS]])
    found += [[book.name_of(g.name) for v in views for g in v.rep.models]]  # every model: person pages draw theirs
    return found


def chart_payload(view: View, book: PriceBook, palette: dict[str, str] | None = None) -> dict[str, Any]:
    """Return the compact series the page's charts draw."""
    rep = view.rep
    people, person_of = _top(rep.users, TOP_PEOPLE)
    models, model_of = _top(rep.models, TOP_MODELS)
    by_calls = most_called(rep.models)
    called, called_of = _top(by_calls, TOP_MODELS)  # the doughnut ranks models by calls, not cost
    days = [d.isoformat() for d in rep.days]
    day_index = {d: i for i, d in enumerate(rep.days)}

    daily_cost: dict[str, list[Decimal]] = {p: [Decimal(0)] * len(days) for p in people}
    daily_calls = [0] * len(days)
    for (person, on), cost in rep.person_days.items():
        daily_cost[person_of(person)][day_index[on]] += cost
    for (on, _), k in rep.day_models.items():
        daily_calls[day_index[on]] += k.invocations

    grid: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for c in rep.cells:
        grid[(person_of(c.person), model_of(c.model))] += c.counters.cost

    def totals(groups: tuple[Group, ...], pick: Callable[[str], str]) -> dict[str, list[int]]:
        sums: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
        for g in groups:
            s, k = sums[pick(g.name)], g.counters
            for i, v in enumerate([*_token_values(k), k.invocations]):
                s[i] += v
        return sums

    person_sums, model_sums = totals(rep.users, person_of), totals(rep.models, model_of)
    called_sums = totals(rep.models, called_of)
    model_labels = [book.name_of(m) if m != OTHER else OTHER for m in models]
    called_labels = [book.name_of(m) if m != OTHER else OTHER for m in called]
    return {
        "window": rep.window.label,
        "key": rep.window.key,
        "colors": distinct(palette or {}, [shorten(p) for p in people])
        | distinct(palette or {}, model_labels + called_labels),
        "other_color": OTHER_COLOR,
        "days": days,
        "partial_days": [i for i, d in enumerate(rep.days) if d in view.partial_days],
        "logs_start": view.logs_start.date().isoformat() if view.logs_start else None,
        **_hourly(view, people, person_of),
        "people": [shorten(p) for p in people],
        "models": model_labels,
        "daily_cost": [{"label": shorten(p), "data": [usd(v) for v in daily_cost[p]]} for p in people],
        "daily_invocations": daily_calls,
        "person_by_model": [{"label": label, "data": [usd(grid[(p, m)]) for p in people]}
                            for m, label in zip(models, model_labels, strict=True)],
        "model_by_person": [{"label": shorten(p), "data": [usd(grid[(p, m)]) for m in models]} for p in people],
        "person_tokens": [{"label": kind, "data": [person_sums[p][i] for p in people]}
                          for i, (kind, _) in enumerate(TOKEN_KINDS)],
        "model_tokens": [{"label": kind, "data": [model_sums[m][i] for m in models]}
                         for i, (kind, _) in enumerate(TOKEN_KINDS)],
        "person_invocations": [person_sums[p][4] for p in people],
        "called_models": called_labels,
        "model_invocations": [called_sums[m][4] for m in called],
    }  # fmt: skip


def month_pace(mtd: View, last_month: View | None) -> dict[str, Any]:
    """The landing page's trend: spend so far by day of this month, against last month's by the same day (each
    cumulative, in US dollars), with each day's own spend this month."""

    def by_day(view: View) -> list[Decimal]:
        spent = [Decimal(0)] * len(view.rep.days)
        index = {d: i for i, d in enumerate(view.rep.days)}
        for (_, on), cost in view.rep.person_days.items():
            spent[index[on]] += cost
        return spent

    def running(values: list[Decimal]) -> list[float]:
        total, out = Decimal(0), []
        for v in values:
            total += v
            out.append(usd(total))
        return out

    this = by_day(mtd)
    before = by_day(last_month) if last_month else []
    length = max(len(this), len(before))
    return {
        "pace_days": [str(i + 1) for i in range(length)],
        "this_month": running(this),
        "last_month": running(before),
        "this_month_daily": [usd(v) for v in this],
        "this_label": mtd.rep.window.start.astimezone(ZoneInfo(mtd.rep.timezone)).strftime("%B"),
        "last_label": last_month.rep.window.start.astimezone(ZoneInfo(mtd.rep.timezone)).strftime("%B")
        if last_month
        else "",
    }


def movers(view: View, count: int = 5) -> list[tuple[str, Counters | None, Decimal]]:
    """The people whose cost changed most against the previous period, either way: (name, counters now or None
    for someone who stopped, change)."""
    found: list[tuple[str, Counters | None, Decimal]] = []
    for g in view.rep.users:
        before = view.before("users", g.name)
        found.append((g.name, g.counters, g.counters.cost - (before.counters.cost if before else Decimal(0))))
    now = {g.name for g in view.rep.users}
    found += [
        (b.name, None, -b.counters.cost) for b in (view.previous.users if view.previous else ()) if b.name not in now
    ]
    found.sort(key=lambda m: (-abs(m[2]), m[0]))
    return [m for m in found[:count] if m[2]]


def _hourly(view: View, people: list[str], person_of: Callable[[str], str]) -> dict[str, Any]:
    """The 1d window's hourly cost by person (the 1d page draws hours, not two partial days)."""
    if view.rep.window.key != "1d":
        return {}
    start = int(view.rep.window.start.timestamp())
    hours = [
        start + 3600 * i for i in range(int((view.rep.window.end - view.rep.window.start).total_seconds()) // 3600)
    ]
    index = {h: i for i, h in enumerate(hours)}
    cost: dict[str, list[Decimal]] = {p: [Decimal(0)] * len(hours) for p in people}
    for hour, person, value in view.hourly:
        if hour in index:
            cost[person_of(person)][index[hour]] += value
    tz = ZoneInfo(view.rep.timezone)
    labels = [datetime.fromtimestamp(h, UTC).astimezone(tz).strftime("%H:00") for h in hours]
    return {"hours": labels, "hourly_cost": [{"label": shorten(p), "data": [usd(v) for v in cost[p]]} for p in people]}


def _token_values(k: Counters) -> list[int]:
    return [getattr(k, field) for _, field in TOKEN_KINDS]


def chart_list(view: View, book: PriceBook) -> list[dict[str, str]]:
    """Return each chart's id, title and a one-line text summary (its accessible fallback)."""
    rep = view.rep

    def top(groups: tuple[Group, ...], value: Callable[[Counters], str], label: Callable[[str], str] = shorten) -> str:
        return ", ".join(f"{label(g.name)} {value(g.counters)}" for g in groups[:3]) or "no usage"

    def money(k: Counters) -> str:
        return f"${k.cost:,.2f}"

    def tokens(k: Counters) -> str:
        return f"{k.tokens:,} tokens"

    def calls(k: Counters) -> str:
        return f"{k.invocations:,}"

    per_day: dict[str, Decimal] = defaultdict(Decimal)
    calls_per_day: dict[str, int] = defaultdict(int)
    for (on, _), k in rep.day_models.items():
        per_day[on.isoformat()] += k.cost
        calls_per_day[on.isoformat()] += k.invocations
    peak = max(per_day, key=lambda day: per_day[day], default=None)
    busiest = max(calls_per_day, key=lambda day: calls_per_day[day], default=None)
    name = book.name_of
    by_calls = most_called(rep.models)
    first = ({"id": "chart-hourly-cost", "title": "Hourly cost by person",
              "summary": f"{money(rep.totals)} over the last 24 hours"} if rep.window.key == "1d" else
             {"id": "chart-daily-cost", "title": "Daily cost by person",
              "summary": f"{money(rep.totals)} over {len(rep.days)} days"
                         + (f"; highest {peak} at ${per_day[peak]:,.2f}" if peak else "")})  # fmt: skip
    charts = [
        first,
        {"id": "chart-person-by-model", "title": "Cost by person, split by model",
         "summary": "Top: " + top(rep.users, money)},
        {"id": "chart-model-by-person", "title": "Cost by model, split by person",
         "summary": "Top: " + top(rep.models, money, name)},
        {"id": "chart-person-tokens", "title": "Tokens by person (input, output, cache)",
         "summary": "Top: " + top(rep.users, tokens)},
        {"id": "chart-model-tokens", "title": "Tokens by model (input, output, cache)",
         "summary": "Top: " + top(rep.models, tokens, name)},
        {"id": "chart-person-invocations", "title": "Invocations by person",
         "summary": "Top: " + top(rep.users, calls)},
        {"id": "chart-model-invocations", "title": "Invocations by model",
         "summary": "Top: " + top(by_calls, calls, name)},
        {"id": "chart-daily-invocations", "title": "Daily invocations",
         "summary": f"{rep.totals.invocations:,} invocations"
                    + (f"; busiest {busiest} with {calls_per_day[busiest]:,}" if busiest else "")},
    ]  # fmt: skip
    return charts if rep.window.key != "1d" else charts[:-1]  # 1d: the hourly chart says it
