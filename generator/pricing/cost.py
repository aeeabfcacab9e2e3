"""The cost of an hourly row, and the price book as text (the table and one call's explanation).

Owns the cost formula (`Rate`): tokens at per-1M prices, per-unit models per successful call, and the reason for
everything left unpriced; and each row's caller and rate (`Pricer`). Pure. Money is exact: whole units of the book's
`money_exponent` while it is summed, Decimal dollars after (`dollars`); never rounded here.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, NamedTuple

import msgspec
import numpy as np

from generator.attribution import Caller
from generator.identity import IdentityAudit
from generator.modelids import UNKNOWN, ModelRef, parse_model_id
from generator.pricing.book import Price, PriceBook, Quote
from generator.usage import FITS, HourlyRow, usage_counts

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


class Rate(msgspec.Struct, frozen=True, gc=False):
    """What each count of an hourly row costs at one price, in whole money units (10**-`PriceBook.money_exponent`
    dollars), and what no price covers: the cost formula, made once per model, region, prompt size and UTC day."""

    call: int = 0  # per billed call: a per-unit price (a failed call makes no image and answers no query)
    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write: int = 0
    savings: int = 0  # per cache-read token: the plain input price less the cache-read price
    unpriced: bool = False  # nothing is priced: every call and token is unpriced
    read_unpriced: bool = False  # cache reads have no price
    write_unpriced: bool = False  # cache writes have no price
    reason: str = ""  # why something is unpriced ("" when nothing can be)
    source: str = ""  # config | price-list | book | inferred ("" when nothing is priced)
    inferred_from: str = ""  # the model whose price an unknown Claude id borrowed

    def apply(self, calls: int, errors: int, inp: int, out: int, read: int, write: int) -> tuple[int, int, int, int]:
        """(cost, unpriced tokens, unpriced calls, cache savings) of these counts, money in units."""
        return _formula((calls, errors, inp, out, read, write), self.numbers())

    def numbers(self) -> tuple[int, ...]:
        """The rate as the numbers `_formula` takes."""
        return (self.call, self.input, self.output, self.cache_read, self.cache_write, self.savings,
                int(self.unpriced), int(self.read_unpriced), int(self.write_unpriced))  # fmt: skip


def _formula(counts: Sequence[Any], rate: Sequence[Any]) -> tuple[Any, Any, Any, Any]:
    """The cost formula: (cost, unpriced tokens, unpriced calls, cache savings) of six counts at a rate's numbers.
    Without branches, so that it runs alike on one row's integers and on numpy columns of many rows' (an unpriced
    rate's prices are all 0: every call and token of it is unpriced, including calls that logged no tokens, such as
    image, video and rerank models', so nothing of it may read as a true $0)."""
    calls, errors, inp, out, read, write = counts
    call, p_input, p_output, p_read, p_write, saving, unpriced, read_unpriced, write_unpriced = rate
    cost = (calls - errors) * call + inp * p_input + out * p_output + read * p_read + write * p_write
    lost = unpriced * (inp + out + read + write) + read * read_unpriced + write * write_unpriced
    return cost, lost, unpriced * calls, read * saving


def costs(counts: np.ndarray, rates: Sequence[Rate], which: np.ndarray) -> np.ndarray:
    """Every row's counters, rows x 11 in FIELDS order with money in units: its six counts (`counts`, rows x 6), then
    the cost, unpriced tokens and calls, calls priced as another model, and cache savings, at `rates[which[row]]`.
    64-bit where a bound says each fits, Python integers where it does not."""
    rows = [(*r.numbers(), r.source == "inferred") for r in rates]
    top = np.abs(np.array(rows, np.float64).reshape(-1, 10)).max(axis=0, initial=0)  # each number's largest
    f = counts.astype(np.float64)
    bound = f[:, 2:].sum(axis=1) + f[:, 0] * top[0] + f[:, 2:6] @ top[1:5] + f[:, 4] * top[5]
    if len(counts) and float(bound.max()) >= FITS:
        numbers = (counts.astype(object), np.array(rows, object).reshape(-1, 10)[which])
    else:
        numbers = (counts, np.array(rows, np.int64).reshape(-1, 10)[which])
    columns = [numbers[0][:, i] for i in range(6)]
    cost, lost, calls, saved = _formula(columns, [numbers[1][:, i] for i in range(9)])
    return np.column_stack([numbers[0], cost, lost, calls, numbers[1][:, 9] * columns[0], saved])


def _units(value: Decimal, scale: int) -> int:
    """A price as whole money units (the book's exponent makes every price whole)."""
    return int(value.scaleb(scale))


def rate_of(ref: ModelRef, book: PriceBook, day: date, region: str, prompt_over: int) -> Rate:
    """The rate for calls of `ref` from `region` on UTC `day` whose prompts were over `prompt_over` tokens."""
    if ref.hourly:
        return Rate(unpriced=True, reason=HOURLY)
    quote = book.quote(ref.model, ref.route, day, ref.prefix, region)
    if quote is None:
        if ref.route == UNKNOWN:
            return Rate(unpriced=True, reason="unmapped profile")
        known = book.knows(ref.model)
        why = f"no {ref.route} price for this model" if known else "no price for this model"
        return Rate(unpriced=True, reason=why)
    price, exponent = quote.price, book.money_exponent
    if price.unit != "token":
        if price.unit not in PER_UNIT_NOTE or price.per_unit is None:
            return Rate(unpriced=True, reason=f"billed per {price.unit}; the log does not say how many")
        return Rate(call=_units(price.per_unit, exponent), source=quote.source, inferred_from=quote.inferred_from)
    if price.long_above and prompt_over >= price.long_above:
        # every call of this row had a prompt over the model's long-context threshold: the whole request costs more
        p_input, p_output, p_cache_read, p_cache_write = price.long[:4]
    else:
        p_input, p_output, p_cache_read, p_cache_write = price.input, price.output, price.cache_read, price.cache_write
    assert p_input is not None and p_output is not None  # parse_prices requires both for tokens
    per_token = exponent - 6  # prices are per 1M tokens
    read, write = p_cache_read is None, p_cache_write is None
    return Rate(
        input=_units(p_input, per_token),
        output=_units(p_output, per_token),
        cache_read=0 if p_cache_read is None else _units(p_cache_read, per_token),
        cache_write=0 if p_cache_write is None else _units(p_cache_write, per_token),
        savings=0 if p_cache_read is None else _units(p_input - p_cache_read, per_token),
        read_unpriced=read,
        write_unpriced=write,
        reason="no cache price for this model" if read or write else "",
        source=quote.source,
        inferred_from=quote.inferred_from,
    )


def dollars(units: int, exponent: int) -> Decimal:
    """Money units as Decimal dollars (exact: the fewest digits that hold the amount)."""
    return Decimal(units) / _POWERS[exponent] if exponent in _POWERS else Decimal(units).scaleb(-exponent)


_POWERS = {e: Decimal(10**e) for e in range(12, 19)}


def places(units: np.ndarray, exponent: int) -> np.ndarray:
    """The decimal places `dollars` gives each of `units` (int8): a sum of such Decimals keeps the most of its
    terms', so a sum made in units and given that many (`dollars_at`) reads as the Decimals' sum did."""
    found = np.full(len(units), exponent, np.int8)
    if exponent in _POWERS:  # a quotient: trailing zeros dropped
        for k in range(1, exponent + 1):
            found[np.asarray(units % 10**k == 0, bool)] = exponent - k  # (Python integers past 64 bits too)
    return found


def dollars_at(units: int, exponent: int, places: int) -> Decimal:
    """Money units as Decimal dollars with `places` decimal places (as many as `dollars` gives them, or more)."""
    return Decimal(units // 10 ** (exponent - places)).scaleb(-places)


def cost_of(row: HourlyRow, ref: ModelRef, book: PriceBook) -> RowCost:
    """Price one hourly row at the price in effect on its UTC day in its region."""
    rate = rate_of(ref, book, utc_day(row.hour), row.region, row.prompt_over)
    cost, unpriced, calls, saved = rate.apply(*usage_counts(row))
    if rate.unpriced:
        return RowCost(Decimal(0), unpriced, rate.reason, calls)
    reason = rate.reason if unpriced else ""
    e = book.money_exponent
    return RowCost(dollars(cost, e), unpriced, reason, 0, rate.source, rate.inferred_from, dollars(saved, e))


class Who(NamedTuple):
    """Whom and what a row's calls are for: the person (through `via`, the principal's person, when request
    metadata named them), the base model and route, the team and each attribution dimension's value."""

    person: str
    model: str
    route: str
    via: str = ""
    team: str = ""
    dims: tuple[str, ...] = ()


class Pricer:
    """Each hourly row's caller and rate, each made once: callers per principal, model id and request metadata,
    rates per model id, region, prompt size and UTC day. Money is in the book's units (`exponent`)."""

    def __init__(
        self,
        book: PriceBook,
        people: Mapping[str, IdentityAudit],
        profiles: Mapping[str, str],
        attribute: Callable[[str, str, str], Caller] | None = None,
    ) -> None:
        self.book, self.people, self.profiles, self.attribute = book, people, profiles, attribute
        self.exponent = book.money_exponent
        self._refs: dict[str, ModelRef] = {}
        self._who: dict[tuple[str, str, str], Who] = {}
        self._rates: dict[tuple[str, str, int, int], Rate] = {}

    def ref(self, model_id: str) -> ModelRef:
        found = self._refs.get(model_id)
        if found is None:
            found = self._refs[model_id] = parse_model_id(model_id, self.profiles)
        return found

    def who(self, principal: str, model_id: str, meta: str) -> Who:
        key = (principal, model_id, meta)
        found = self._who.get(key)
        if found is None:
            ref, person = self.ref(model_id), self.people[principal].person
            if self.attribute is None:
                found = Who(person, ref.model, ref.route)
            else:
                c = self.attribute(person, meta, model_id)
                found = Who(c.person, ref.model, ref.route, c.via, c.team, c.dims)
            self._who[key] = found
        return found

    def rate(self, model_id: str, region: str, prompt_over: int, day: int) -> Rate:
        """The rate of a call on UTC day `day` (days since 1970-01-01)."""
        key = (model_id, region, prompt_over, day)
        found = self._rates.get(key)
        if found is None:
            found = self._rates[key] = rate_of(self.ref(model_id), self.book, utc_day(day * 86400), region, prompt_over)
        return found


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
