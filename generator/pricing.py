"""Prices as data: the shipped price book, config overrides, and the cost of an hourly row.

Owns price validation, date-ranged lookup by model and route, and the cost formula. Pure apart
from reading the shipped TOML file; money is Decimal throughout, never rounded here.
"""

from __future__ import annotations

import functools
import itertools
import re
import tomllib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from generator.modelids import ROUTES, ModelRef
from generator.usage import HourlyRow

BOOK_PATH = Path(__file__).parent / "data" / "prices.toml"
MILLION = Decimal(1_000_000)
PRICE_FIELDS = ("input", "output", "cache_read", "cache_write", "cache_write_1h", "batch")
_KNOWN = {"model", "name", "route", "routes", "effective_from", "effective_to", "source", *PRICE_FIELDS}


class PriceEntryError(ValueError):
    """A price entry that cannot be used; the message names the entry."""


@dataclass(frozen=True)
class Price:
    """USD per 1M tokens for one model on one route, over a range of UTC days."""

    model: str
    route: str
    name: str
    input: Decimal
    output: Decimal
    cache_read: Decimal | None
    cache_write: Decimal | None
    cache_write_1h: Decimal | None
    batch: Decimal | None
    effective_from: date
    effective_to: date | None
    source: str

    def covers(self, day: date) -> bool:
        return self.effective_from <= day and (self.effective_to is None or day < self.effective_to)


@dataclass(frozen=True)
class RowCost:
    """The cost of one hourly row, and what no price covered."""

    cost: Decimal
    unpriced_tokens: int
    reason: str = ""  # why something is unpriced ("" when nothing is)
    unpriced_invocations: int = 0  # calls of which nothing was priced, token counts or not


class PriceBook:
    """Every known price, looked up by model, route and day."""

    def __init__(self, prices: Iterable[Price]) -> None:
        self.prices = tuple(sorted(prices, key=lambda p: (p.model, ROUTES.index(p.route), p.effective_from)))
        self._by_key: dict[tuple[str, str], list[Price]] = defaultdict(list)
        for p in self.prices:
            self._by_key[(p.model, p.route)].append(p)
        self._found: dict[tuple[str, str, date], Price | None] = {}

    def lookup(self, model: str, route: str, day: date) -> Price | None:
        """Return the price in effect for `model` on `route` on `day`, or None."""
        key = (model, route, day)
        if key not in self._found:
            self._found[key] = next((p for p in self._by_key.get((model, route), ()) if p.covers(day)), None)
        return self._found[key]

    def name_of(self, model: str) -> str:
        """Return a model's display name, or its id when the book does not know it."""
        for route in ROUTES:
            entries = self._by_key.get((model, route))
            if entries:
                return entries[-1].name
        return model


def name_key(name: str) -> str:
    """Reduce a model's display name to what AWS's billing and Price List names share with the book's."""
    return re.sub(r"[^a-z0-9.]+", "", name.lower().replace("amazon", "").replace("anthropic", ""))


def _decimal(entry: Mapping[str, Any], key: str, where: str) -> Decimal | None:
    value = entry.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise PriceEntryError(f"{where}: {key} must be a number")
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        raise PriceEntryError(f"{where}: {key} must be a number, not {value!r}") from None
    if not number.is_finite() or number < 0:
        raise PriceEntryError(f"{where}: {key} must be a non-negative number, not {value}")
    return number


def _day(entry: Mapping[str, Any], key: str, where: str) -> date | None:
    value = entry.get(key)
    if value is None or (isinstance(value, date) and not isinstance(value, datetime)):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise PriceEntryError(f"{where}: {key} must be a date like 2025-01-31, not {value!r}")


def parse_prices(entries: Sequence[Mapping[str, Any]], origin: str) -> list[Price]:
    """Validate `[[prices]]` entries from `origin`; raise PriceEntryError naming the first bad one."""
    prices: list[Price] = []
    for i, entry in enumerate(entries):
        model = entry.get("model")
        where = f"{origin}: prices[{i}] ({model or 'no model'})"
        if not isinstance(model, str) or not model:
            raise PriceEntryError(f"{where}: model is required")
        unknown = sorted(set(entry) - _KNOWN)
        if unknown:
            raise PriceEntryError(f"{where}: unknown field(s) {', '.join(unknown)}")
        routes = entry.get("routes", [entry.get("route", "in-region")])
        if not isinstance(routes, list) or not routes:
            raise PriceEntryError(f"{where}: routes must be a list of {', '.join(ROUTES)}")
        for route in routes:
            if route not in ROUTES:
                raise PriceEntryError(f"{where}: unknown route {route!r} (use {', '.join(ROUTES)})")
        values = {key: _decimal(entry, key, where) for key in PRICE_FIELDS}
        if values["input"] is None or values["output"] is None:
            raise PriceEntryError(f"{where}: input and output prices are required")
        start = _day(entry, "effective_from", where) or date(2000, 1, 1)
        end = _day(entry, "effective_to", where)
        if end is not None and end <= start:
            raise PriceEntryError(f"{where}: effective_to must be after effective_from")
        for route in routes:
            prices.append(
                Price(
                    model, route, str(entry.get("name") or model),
                    values["input"], values["output"], values["cache_read"], values["cache_write"],
                    values["cache_write_1h"], values["batch"], start, end,
                    str(entry.get("source") or origin),
                )
            )  # fmt: skip
    _check_overlaps(prices, origin)
    return prices


def _check_overlaps(prices: Sequence[Price], origin: str) -> None:
    by_key: dict[tuple[str, str], list[Price]] = defaultdict(list)
    for p in prices:
        by_key[(p.model, p.route)].append(p)
    for (model, route), group in by_key.items():
        group.sort(key=lambda p: p.effective_from)
        for a, b in itertools.pairwise(group):
            if a.effective_to is None or a.effective_to > b.effective_from:
                raise PriceEntryError(
                    f"{origin}: prices for {model} ({route}) overlap: "
                    f"from {a.effective_from} and from {b.effective_from}"
                )


def load_book(overrides: Sequence[Price] = (), path: Path = BOOK_PATH) -> PriceBook:
    """Load the shipped book; an override for a model and route replaces all its shipped entries."""
    with path.open("rb") as fh:
        shipped = parse_prices(tomllib.load(fh, parse_float=Decimal)["prices"], path.name)
    replaced = {(p.model, p.route) for p in overrides}
    return PriceBook([p for p in shipped if (p.model, p.route) not in replaced] + list(overrides))


@functools.lru_cache(maxsize=4096)
def _utc_day(midnight: int) -> date:
    return datetime.fromtimestamp(midnight, UTC).date()


def cost_of(row: HourlyRow, ref: ModelRef, book: PriceBook) -> RowCost:
    """Price one hourly row at the price in effect on its UTC day."""
    price = book.lookup(ref.model, ref.route, _utc_day(row.hour - row.hour % 86400))
    if price is None:
        # Every call of an unpriced model is unpriced, including calls that logged no tokens
        # (image, video and rerank models): nothing here may read as a true $0.
        reason = "no price for this model" if ref.route != "unknown" else "unmapped profile"
        return RowCost(Decimal(0), row.tokens, reason, row.invocations)
    total = row.input_tokens * price.input + row.output_tokens * price.output
    unpriced = 0
    for count, unit in ((row.cache_read_tokens, price.cache_read), (row.cache_write_tokens, price.cache_write)):
        if not count:
            continue
        if unit is None:
            unpriced += count
        else:
            total += count * unit
    return RowCost(total / MILLION, unpriced, "no cache price for this model" if unpriced else "")


def price_table(book: PriceBook, pattern: str | None = None) -> str:
    """Format the book (optionally filtered by a case-insensitive substring) as a text table."""
    needle = (pattern or "").lower()
    rows: list[tuple[str, ...]] = [
        ("model", "route", "input", "output", "cache read", "cache write", "1h write", "from", "to")
    ]
    for p in book.prices:
        if needle and needle not in p.model.lower() and needle not in p.name.lower():
            continue
        cells = (p.input, p.output, p.cache_read, p.cache_write, p.cache_write_1h)
        rows.append(
            (p.model, p.route, *("-" if v is None else f"{v}" for v in cells),
             p.effective_from.isoformat(), p.effective_to.isoformat() if p.effective_to else "")
        )  # fmt: skip
    if len(rows) == 1:
        return f"no price matches {pattern!r}"
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)
