"""The price book: validated price entries from every layer, and the one rule that picks a price.

Owns the entry format, the layers (config > Price List > bundled book) and the lookup by model,
route, prefix, region and day, including the two fallbacks: the same model under another version
id, and a Claude family's current price (marked inferred). Pure apart from reading the shipped TOML.
"""

from __future__ import annotations

import fnmatch
import itertools
import re
import tomllib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from generator.modelids import GEO_PREFIXES, ROUTES, claude_generation, same_model, version_parts
from generator.usage import PROMPT_BOUNDARIES

BOOK_PATH = Path(__file__).parent.parent / "data" / "prices.toml"
# What the curated book lacks, from the public datasets (generated: `python -m tests.price_datasets --write`).
PUBLIC_PATH = BOOK_PATH.with_name("prices-public.toml")
PRICE_FIELDS = ("input", "output", "cache_read", "cache_write", "cache_write_1h", "batch")
# A whole request whose prompt exceeds `long_context_above` tokens is billed at these rates instead.
LONG_FIELDS = ("long_input", "long_output", "long_cache_read", "long_cache_write", "long_cache_write_1h")
UNITS = ("token", "image", "query", "second")
TIERS = ("flex", "priority")  # service tiers a `[[tiers]]` entry prices (the default tier is `[[prices]]`)
# Which layer wins between equally specific entries (config always wins: the user said so).
ORIGINS = ("config", "price-list", "book")
_KNOWN = {
    "model", "name", "route", "routes", "effective_from", "effective_to", "source", "regions", "prefixes",
    "unit", "per_unit", "checked", "long_context_above", "disputed", *PRICE_FIELDS, *LONG_FIELDS,
}  # fmt: skip


class PriceEntryError(ValueError):
    """A price entry that cannot be used; the message names the entry."""


@dataclass(frozen=True)
class Price:
    """One model's price on one route, over a range of UTC days, for some or all regions.

    Token prices are USD per 1M tokens; a per-unit price (`unit` image, query or second) is USD per unit.
    """

    model: str
    route: str
    name: str
    input: Decimal | None
    output: Decimal | None
    cache_read: Decimal | None
    cache_write: Decimal | None
    cache_write_1h: Decimal | None
    batch: Decimal | None
    effective_from: date
    effective_to: date | None
    source: str
    origin: str = "book"  # config | price-list | book
    regions: tuple[str, ...] = ()  # source regions (glob patterns) this price is for; () = any
    prefixes: tuple[str, ...] = ()  # geographic prefixes (us, eu, ...) this price is for; () = any
    unit: str = "token"
    per_unit: Decimal | None = None
    checked: date | None = None  # when its source was last read
    long_above: int = 0  # prompt tokens above which a request is billed at the long-context rates (0: never)
    long: tuple[Decimal | None, ...] = ()  # long-context input, output, cache read, cache write, 1h cache write
    disputed: str = ""  # why public sources disagree on this price ("" when they do not)

    def covers(self, day: date) -> bool:
        return self.effective_from <= day and (self.effective_to is None or day < self.effective_to)

    def applies(self, prefix: str, region: str) -> bool:
        """Tell whether this price is for a call with this route prefix from this region."""
        if self.prefixes and prefix not in self.prefixes:
            return False
        return not self.regions or any(fnmatch.fnmatchcase(region, pattern) for pattern in self.regions)

    @property
    def rank(self) -> tuple[bool, int, bool, int]:
        """Config first; then the most specific price (a named region before a pattern); then the layer (Price List
        before the book)."""
        exact = bool(self.regions) and not any(set(r) & set("*?[") for r in self.regions)
        return (self.origin == "config", bool(self.regions) + bool(self.prefixes), exact, -ORIGINS.index(self.origin))

    @property
    def scope(self) -> str:
        """Where this price applies, in words."""
        parts = [f"prefix {'/'.join(self.prefixes)}" if self.prefixes else "", ",".join(self.regions)]
        return "; ".join(p for p in parts if p) or "every region"


@dataclass(frozen=True)
class Quote:
    """The price that applies to a call, and how it was found."""

    price: Price
    inferred_from: str = ""  # the model whose price a Claude id with no entry borrowed ("" if its own)
    alias_of: str = ""  # the book's id for the same model logged under another version id

    @property
    def source(self) -> str:
        """`inferred`, or the layer the price came from: config, price-list or book."""
        return "inferred" if self.inferred_from else self.price.origin


class PriceBook:
    """Every known price, looked up by model, route, prefix, region and day; and the service tiers' prices."""

    def __init__(self, prices: Iterable[Price], tiers: Iterable[tuple[str, Price]] = ()) -> None:
        self._tiers: dict[tuple[str, str], list[Price]] = defaultdict(list)
        for tier, price in tiers:
            self._tiers[(price.model, tier)].append(price)
        self.prices = tuple(
            sorted(prices, key=lambda p: (p.model, ROUTES.index(p.route), p.regions, p.prefixes, p.effective_from))
        )
        self._by_key: dict[tuple[str, str], list[Price]] = defaultdict(list)
        for p in self.prices:
            self._by_key[(p.model, p.route)].append(p)
        self._models = {p.model for p in self.prices}
        self._by_base: dict[str, list[str]] = defaultdict(list)
        for model in sorted(self._models):
            self._by_base[version_parts(model)[0]].append(model)
        families: dict[str, list[tuple[tuple[int, int], str]]] = defaultdict(list)
        for model in self._models:
            found = claude_generation(model)
            if found:
                families[found[0]].append((found[1], model))
        self._families = {name: sorted(members, reverse=True) for name, members in families.items()}
        self._found: dict[tuple[str, str, str, str, date], Quote | None] = {}
        # money is summed as whole multiples of 10**-money_exponent dollars: fine enough that every cost priced
        # from this book is a whole number of them (a picodollar unless a price has over six decimals per 1M tokens)
        self.money_exponent = max((_decimals(p) for p in self.prices), default=MONEY_EXPONENT)

    def _best(self, model: str, route: str, prefix: str, region: str, day: date) -> Price | None:
        return _pick(self._by_key.get((model, route), ()), prefix, region, day)

    def quote(self, model: str, route: str, day: date, prefix: str = "", region: str = "") -> Quote | None:
        """Return the price in effect for a call of `model` on `route` from `region` on `day`, or None."""
        key = (model, route, prefix, region, day)
        if key not in self._found:
            self._found[key] = self._quote(model, route, prefix, region, day)
        return self._found[key]

    def _quote(self, model: str, route: str, prefix: str, region: str, day: date) -> Quote | None:
        if model in self._models:  # a model the book knows is never priced as another, even on a day it lacks
            price = self._best(model, route, prefix, region, day)
            return Quote(price) if price else None
        alias = self.alias_of(model)
        if alias is not None:
            price = self._best(alias, route, prefix, region, day)
            return Quote(price, alias_of=alias) if price else None
        found = claude_generation(model)
        if found is None:
            return None
        family, generation = found
        for known_generation, member in self._families.get(family, ()):
            if known_generation <= generation:
                price = self._best(member, route, prefix, region, day)
                if price:
                    return Quote(price, inferred_from=member)
        return None

    def lookup(self, model: str, route: str, day: date, prefix: str = "", region: str = "") -> Price | None:
        """Return the price in effect (see `quote`), or None."""
        found = self.quote(model, route, day, prefix, region)
        return found.price if found else None

    def tier_price(self, model: str, tier: str, region: str, day: date) -> Price | None:
        """A service tier's token price for a model in a region (its own region's first), or None when unknown."""
        known = model if model in self._models else self.alias_of(model) or model
        return _pick(self._tiers.get((known, tier), ()), "", region, day)

    def knows(self, model: str) -> bool:
        """Tell whether the book has entries for this model (under this or another version id)."""
        return model in self._models or self.alias_of(model) is not None

    def alias_of(self, model: str) -> str | None:
        """The one book id the logged id names under another version suffix, or None (none, or ambiguous)."""
        found = [known for known in self._by_base.get(version_parts(model)[0], ()) if same_model(model, known)]
        return found[0] if len(found) == 1 else None

    def name_of(self, model: str) -> str:
        """Return a model's display name, or its id when the book does not know it."""
        for route in ROUTES:
            entries = self._by_key.get((model, route))
            if entries:
                return entries[-1].name
        alias = self.alias_of(model)
        return self.name_of(alias) if alias else model


MONEY_EXPONENT = 12  # a picodollar: a token at any price of up to six decimals per 1M tokens costs a whole number


def _places(value: Decimal | None) -> int:
    """The decimal places `value` needs (0 for a whole number)."""
    exponent = value.normalize().as_tuple().exponent if value is not None else 0
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _decimals(p: Price) -> int:
    """The money exponent a price needs: per-1M token prices take six places more than they have."""
    tokens = (p.input, p.output, p.cache_read, p.cache_write, *p.long)
    return max(MONEY_EXPONENT, _places(p.per_unit), *(6 + _places(v) for v in tokens))


def _pick(candidates: Iterable[Price], prefix: str, region: str, day: date) -> Price | None:
    """The one rule that picks a price: of those in effect on `day` for this prefix and region, the highest rank."""
    fits = [p for p in candidates if p.covers(day) and p.applies(prefix, region)]
    return max(fits, key=lambda p: p.rank) if fits else None


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


def _text(entry: Mapping[str, Any], key: str, where: str) -> str:
    value = entry.get(key, "")
    if not isinstance(value, str) or len(value) > 500:
        raise PriceEntryError(f"{where}: {key} must be text of at most 500 characters")
    return value


def _strings(entry: Mapping[str, Any], key: str, where: str, allowed: Sequence[str] = ()) -> tuple[str, ...]:
    value = entry.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and 0 < len(v) <= 64 for v in value):
        raise PriceEntryError(f"{where}: {key} must be a list of names")
    bad = [v for v in value if allowed and v not in allowed]
    if bad:
        raise PriceEntryError(f"{where}: unknown {key} {bad[0]!r} (use {', '.join(allowed)})")
    return tuple(sorted(value))


def parse_prices(entries: Sequence[Mapping[str, Any]], origin: str, layer: str = "config") -> list[Price]:
    """Validate `[[prices]]` entries from `origin` (a file) for `layer`; PriceEntryError names the first bad one."""
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
        values = {key: _decimal(entry, key, where) for key in (*PRICE_FIELDS, *LONG_FIELDS, "per_unit")}
        long_above = entry.get("long_context_above", 0)
        if long_above not in (0, *PROMPT_BOUNDARIES):
            raise PriceEntryError(
                f"{where}: long_context_above must be one of {', '.join(map(str, PROMPT_BOUNDARIES))} (prompt tokens)"
            )
        if long_above and (values["long_input"] is None or values["long_output"] is None):
            raise PriceEntryError(f"{where}: long_context_above needs long_input and long_output")
        unit = entry.get("unit", "token")
        if unit not in UNITS:
            raise PriceEntryError(f"{where}: unknown unit {unit!r} (use {', '.join(UNITS)})")
        if unit == "token" and (values["input"] is None or values["output"] is None):
            raise PriceEntryError(f"{where}: input and output prices are required")
        if unit != "token" and values["per_unit"] is None:
            raise PriceEntryError(f"{where}: per_unit is required for unit {unit!r}")
        start = _day(entry, "effective_from", where) or date(2000, 1, 1)
        end = _day(entry, "effective_to", where)
        if end is not None and end <= start:
            raise PriceEntryError(f"{where}: effective_to must be after effective_from")
        regions = _strings(entry, "regions", where)
        prefixes = _strings(entry, "prefixes", where, GEO_PREFIXES)
        if prefixes and "geo" not in routes:
            raise PriceEntryError(f"{where}: prefixes apply to the geo route only")
        for route in routes:
            prices.append(
                Price(
                    model, route, str(entry.get("name") or model),
                    values["input"], values["output"], values["cache_read"], values["cache_write"],
                    values["cache_write_1h"], values["batch"], start, end,
                    str(entry.get("source") or origin), layer, regions, prefixes if route == "geo" else (),
                    unit, values["per_unit"], _day(entry, "checked", where), long_above,
                    tuple(values[k] for k in LONG_FIELDS) if long_above else (),
                    _text(entry, "disputed", where),
                )
            )  # fmt: skip
    _check_overlaps(prices, origin)
    return prices


def _check_overlaps(prices: Sequence[Price], origin: str) -> None:
    by_key: dict[tuple[str, str, tuple[str, ...], tuple[str, ...]], list[Price]] = defaultdict(list)
    for p in prices:
        by_key[(p.model, p.route, p.regions, p.prefixes)].append(p)
    for (model, route, *_), group in by_key.items():
        group.sort(key=lambda p: p.effective_from)
        for a, b in itertools.pairwise(group):
            if a.effective_to is None or a.effective_to > b.effective_from:
                raise PriceEntryError(
                    f"{origin}: prices for {model} ({route}, {a.scope}) overlap: "
                    f"from {a.effective_from} and from {b.effective_from}"
                )


def _read(paths: Sequence[Path]) -> tuple[list[Price], list[tuple[str, Price]]]:
    """The bundled book's `[[prices]]` and `[[tiers]]` (an entry with a `tier`, flex or priority), each file read
    once (both files unless told which)."""
    prices: list[Price] = []
    tiers: list[tuple[str, Price]] = []
    for path in paths or (BOOK_PATH, PUBLIC_PATH):
        with path.open("rb") as fh:
            doc = tomllib.load(fh, parse_float=Decimal)
        prices += parse_prices(doc["prices"], path.name, "book")
        for i, entry in enumerate(doc.get("tiers", [])):
            tier = entry.get("tier")
            if tier not in TIERS:
                raise PriceEntryError(f"{path.name}: tiers[{i}]: tier must be one of {', '.join(TIERS)}")
            (price,) = parse_prices([{k: v for k, v in entry.items() if k != "tier"}], path.name, "book")
            tiers.append((tier, price))
    return prices, tiers


def read_book(*paths: Path) -> list[Price]:
    """Read the bundled book's entries (both files unless told which)."""
    return _read(paths)[0]


def load_book(overrides: Sequence[Price] = (), price_list: Sequence[Price] = (), *paths: Path) -> PriceBook:
    """Layer config overrides and Price List prices over the bundled book (with its service-tier prices)."""
    prices, tiers = _read(paths)
    return PriceBook([*prices, *price_list, *overrides], tiers)
