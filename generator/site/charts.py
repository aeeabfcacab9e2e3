"""The data each overview page embeds for its charts: top people and models plus "other".

Owns the reduction that keeps charts readable and pages light at any size (500 people x 40
models draw as 10 + other); the tables and JSON files keep the full lists. Pure.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from generator.pricing import PriceBook
from generator.site.export import usd
from generator.site.report import Counters, Group, WindowReport

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


def chart_payload(rep: WindowReport, book: PriceBook) -> dict[str, Any]:
    """Return the compact series the page's charts draw."""
    people, person_of = _top(rep.users, TOP_PEOPLE)
    models, model_of = _top(rep.models, TOP_MODELS)
    days = [d.isoformat() for d in rep.days]
    day_index = {d: i for i, d in enumerate(rep.days)}

    daily_cost: dict[str, list[Decimal]] = {p: [Decimal(0)] * len(days) for p in people}
    daily_calls = [0] * len(days)
    for d in rep.daily:
        daily_cost[person_of(d.person)][day_index[d.day]] += d.counters.cost
        daily_calls[day_index[d.day]] += d.counters.invocations

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
    model_labels = [book.name_of(m) if m != OTHER else OTHER for m in models]
    return {
        "window": rep.window.label,
        "days": days,
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
        "model_invocations": [model_sums[m][4] for m in models],
    }  # fmt: skip


def _token_values(k: Counters) -> list[int]:
    return [getattr(k, field) for _, field in TOKEN_KINDS]


def chart_list(rep: WindowReport, book: PriceBook) -> list[dict[str, str]]:
    """Return each chart's id, title and a one-line text summary (its accessible fallback)."""

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
    for d in rep.daily:
        per_day[d.day.isoformat()] += d.counters.cost
        calls_per_day[d.day.isoformat()] += d.counters.invocations
    peak = max(per_day, key=lambda day: per_day[day], default=None)
    busiest = max(calls_per_day, key=lambda day: calls_per_day[day], default=None)
    name = book.name_of
    return [
        {"id": "chart-daily-cost", "title": "Daily cost by person",
         "summary": f"{money(rep.totals)} over {len(rep.days)} days"
                    + (f"; highest {peak} at ${per_day[peak]:,.2f}" if peak else "")},
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
         "summary": "Top: " + top(rep.models, calls, name)},
        {"id": "chart-daily-invocations", "title": "Daily invocations",
         "summary": f"{rep.totals.invocations:,} invocations"
                    + (f"; busiest {busiest} with {calls_per_day[busiest]:,}" if busiest else "")},
    ]  # fmt: skip
