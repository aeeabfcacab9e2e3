"""The cost of an hourly row, and the price book as text (the table and one call's explanation).

Owns the cost formula: tokens at per-1M prices, per-unit models per successful call, and the
reason for everything left unpriced. Pure; money is Decimal throughout, never rounded here.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal

import msgspec

from generator.attribution import Caller
from generator.identity import IdentityAudit
from generator.modelids import UNKNOWN, ModelRef, parse_model_id
from generator.pricing.book import Price, PriceBook, Quote
from generator.usage import HourlyRow

MILLION = Decimal(1_000_000)
HOURLY = "billed per hour (provisioned throughput or a custom model), not per token"
PER_UNIT_NOTE = {
    "image": "one image per call (the log does not say how many images a call made)",
    "query": "one query per call",
}


class RowCost(msgspec.Struct, frozen=True, gc=False):
    """The cost of one hourly row, and what no price covered."""

    cost: Decimal
    unpriced_tokens: int
    reason: str = ""  # why something is unpriced ("" when nothing is)
    unpriced_invocations: int = 0  # calls of which nothing was priced, token counts or not
    source: str = ""  # config | price-list | book | inferred ("" when nothing was priced)
    inferred_from: str = ""  # the model whose price an unknown Claude id borrowed
    cache_savings: Decimal = Decimal(0)  # what the cache reads would have cost as plain input, less what they cost


@functools.lru_cache(maxsize=4096)
def utc_day(hour: int) -> date:
    """The UTC day an hour (epoch seconds) falls on."""
    return datetime.fromtimestamp(hour - hour % 86400, UTC).date()


def _unpriced(row: HourlyRow, reason: str) -> RowCost:
    # Every call of an unpriced model is unpriced, including calls that logged no tokens
    # (image, video and rerank models): nothing here may read as a true $0.
    return RowCost(Decimal(0), row.tokens, reason, row.invocations)


def cost_of(row: HourlyRow, ref: ModelRef, book: PriceBook) -> RowCost:
    """Price one hourly row at the price in effect on its UTC day in its region."""
    if ref.hourly:
        return _unpriced(row, HOURLY)
    quote = book.quote(ref.model, ref.route, utc_day(row.hour), ref.prefix, row.region)
    if quote is None:
        if ref.route == UNKNOWN:
            return _unpriced(row, "unmapped profile")
        known = book.knows(ref.model)
        return _unpriced(row, f"no {ref.route} price for this model" if known else "no price for this model")
    price = quote.price
    if price.unit != "token":
        if price.unit not in PER_UNIT_NOTE or price.per_unit is None:
            return _unpriced(row, f"billed per {price.unit}; the log does not say how many")
        billed = row.invocations - row.errors  # a failed call makes no image and answers no query
        return RowCost(billed * price.per_unit, 0, "", 0, quote.source, quote.inferred_from)
    if price.long_above and row.prompt_over >= price.long_above:
        # every call of this row had a prompt over the model's long-context threshold: the whole request costs more
        p_input, p_output, p_cache_read, p_cache_write = price.long[:4]
    else:
        p_input, p_output, p_cache_read, p_cache_write = price.input, price.output, price.cache_read, price.cache_write
    assert p_input is not None and p_output is not None  # parse_prices requires both for tokens
    total = row.input_tokens * p_input + row.output_tokens * p_output
    unpriced = 0
    for count, unit in ((row.cache_read_tokens, p_cache_read), (row.cache_write_tokens, p_cache_write)):
        if not count:
            continue
        if unit is None:
            unpriced += count
        else:
            total += count * unit
    reason = "no cache price for this model" if unpriced else ""
    saved = row.cache_read_tokens * (p_input - p_cache_read) / MILLION if p_cache_read is not None else Decimal(0)
    return RowCost(total / MILLION, unpriced, reason, 0, quote.source, quote.inferred_from, saved)


class CostedRow(msgspec.Struct, frozen=True, gc=False):
    """An hourly row with its person, parsed model and cost (a C struct: one per hourly row)."""

    hour: int
    principal: str
    person: str
    model: str
    route: str
    logged_model: str
    invocations: int
    errors: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost: Decimal
    unpriced_tokens: int
    unpriced_reason: str
    unpriced_invocations: int
    region: str = ""
    price_source: str = ""  # config | price-list | book | inferred ("" when unpriced)
    inferred_from: str = ""  # the model whose price an unknown Claude id borrowed
    account: str = ""
    cache_savings: Decimal = Decimal(0)
    via: str = ""  # the principal's person, when request metadata named the person
    team: str = ""
    dims: tuple[str, ...] = ()  # one value per attribution dimension ("" where the call says nothing)

    @property
    def inferred_invocations(self) -> int:
        return self.invocations if self.price_source == "inferred" else 0


def cost_rows(
    rows: Iterable[HourlyRow],
    book: PriceBook,
    people: Mapping[str, IdentityAudit],
    profiles: Mapping[str, str],
    attribute: Callable[[str, str, str], Caller] | None = None,
) -> Iterator[CostedRow]:
    """Attach person, model, route, cost and (with `attribute`) via, team and tags to every hourly row, one at a
    time (in the rows' order)."""
    refs: dict[str, ModelRef] = {}
    for r in rows:
        ref = refs.get(r.model_id)
        if ref is None:
            ref = refs[r.model_id] = parse_model_id(r.model_id, profiles)
        price = cost_of(r, ref, book)
        person = people[r.principal].person
        via, team, dims = "", "", ()  # type: tuple[str, str, tuple[str, ...]]
        if attribute is not None:
            caller = attribute(person, r.meta, r.model_id)
            person, via, team, dims = caller.person, caller.via, caller.team, caller.dims
        yield CostedRow(
            r.hour, r.principal, person, ref.model, ref.route,
            r.model_id, r.invocations, r.errors, r.input_tokens, r.output_tokens,
            r.cache_read_tokens, r.cache_write_tokens, price.cost, price.unpriced_tokens, price.reason,
            price.unpriced_invocations, r.region, price.source, price.inferred_from, r.account,
            price.cache_savings, via, team, dims,
        )  # fmt: skip


def _money(v: Decimal | None) -> str:
    """A price as written on the pricing page: at least cents (`0.80`, `3.00`), every digit it has (`0.00875`)."""
    if v is None:
        return "-"
    cents = v.quantize(Decimal("0.01"))
    return f"{cents}" if cents == v else f"{v.normalize():f}"


def price_cells(p: Price) -> tuple[str, ...]:
    """The five price columns of a price: per-1M token prices, or the per-unit price in the first."""
    if p.unit != "token":
        return (f"{_money(p.per_unit)} per {p.unit}", "-", "-", "-", "-")
    return tuple(_money(v) for v in (p.input, p.output, p.cache_read, p.cache_write, p.cache_write_1h))


def long_context(p: Price) -> str:
    """The long-context rates of a price, in words ("" when it has none)."""
    if not p.long_above:
        return ""
    names = ("input", "output", "cache read", "cache write", "1h write")
    rates = ", ".join(f"{k} {v}" for k, v in zip(names, p.long, strict=True) if v is not None)
    return f"prompts over {p.long_above // 1000}K tokens: {rates}"


def price_table(book: PriceBook, pattern: str | None = None) -> str:
    """Format the book (optionally filtered by a case-insensitive substring) as a text table."""
    needle = (pattern or "").lower()
    rows: list[tuple[str, ...]] = [
        (
            "model",
            "route",
            "where",
            "input",
            "output",
            "cache read",
            "cache write",
            "1h write",
            "long context",
            "from",
            "to",
            "layer",
        )
    ]
    for p in book.prices:
        if needle and needle not in p.model.lower() and needle not in p.name.lower():
            continue
        rows.append(
            (p.model, p.route, p.scope, *price_cells(p),
             f">{p.long_above // 1000}K {p.long[0]}/{p.long[1]}" if p.long_above else "-", p.effective_from.isoformat(),
             p.effective_to.isoformat() if p.effective_to else "", p.origin)
        )  # fmt: skip
    if len(rows) == 1:
        return f"no price matches {pattern!r}"
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def explain(book: PriceBook, ref: ModelRef, region: str, day: date) -> str:
    """Say which entry prices a call of `ref` from `region` on `day`, and why that one."""
    where = f"{ref.logged} from {region or 'an unknown region'} on {day}"
    head = f"{where}: model {ref.model}, route {ref.route}" + (f" (prefix {ref.prefix})" if ref.prefix else "")
    if ref.variant:
        head += f", variant [{ref.variant}] priced as the base model"
    if ref.hourly:
        return f"{head}\nunpriced: {HOURLY}"
    quote = book.quote(ref.model, ref.route, day, ref.prefix, region)
    if quote is None:
        return f"{head}\nunpriced: no entry covers this model, route, region and day"
    return f"{head}\n{_why(quote, day)}"


def _why(quote: Quote, day: date) -> str:
    p = quote.price
    if p.unit == "token":
        names = ("input", "output", "cache read", "cache write", "1h cache write")
        cells = dict(zip(names, price_cells(p), strict=True))
        price = ", ".join(f"{k} {v}" for k, v in cells.items() if v != "-") + " (USD per 1M tokens)"
    else:
        price = f"{p.per_unit} USD per {p.unit}; " + PER_UNIT_NOTE.get(
            p.unit, "calls stay unpriced: the log has no count"
        )
    lines = [
        f"price: {price}",
        f"entry: {p.name} ({p.model}), {p.route}, {p.scope}, from {p.effective_from}"
        + (f" to {p.effective_to}" if p.effective_to else "")
        + f"; layer {p.origin}; source: {p.source}",
        "why: " + _reason(quote, day),
    ]
    if p.long_above:
        lines.insert(1, "long context: " + long_context(p) + " (whole request; priced where the log shows the size)")
    return "\n".join(lines)


def _reason(quote: Quote, day: date) -> str:
    p = quote.price
    if quote.inferred_from:
        return (
            f"INFERRED: the book has no entry for this Claude model, so it is priced as {quote.inferred_from}, "
            "the newest model of its family and generation at most its own"
        )
    alias = f"this id names the book's {quote.alias_of} (same model, other version suffix); " if quote.alias_of else ""
    layer = {
        "config": "your config overrides every other layer",
        "price-list": "the AWS Price List, read by this run, is preferred to the bundled book",
        "book": "the bundled book",
    }[p.origin]
    scope = "a price for this region or prefix beats a general one" if p.regions or p.prefixes else "no regional price"
    return f"{alias}{layer}; {scope}; in effect on {day}"
