"""The AWS Price List API (`pricing:GetProducts`) as a price layer, and as a draft file to review.

Owns reading Price List product documents and mapping their display names, usage types and
units onto the price book's models, routes, regions and USD per 1M tokens. Takes a client.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Protocol

from generator.aws import AWS_ERRORS, DENIED, error_code, reason
from generator.errors import SourceError
from generator.modelids import GEO, GLOBAL, IN_REGION
from generator.pricing.book import PRICE_FIELDS, Price, PriceBook, name_key

SERVICE_CODES = ("AmazonBedrock", "AmazonBedrockFoundationModels")
_UNITS = {"1k tokens": Decimal(1000), "1m tokens": Decimal(1), "tokens": Decimal(1_000_000)}


@dataclass(frozen=True)
class Offer:
    """One on-demand token price from the Price List, in USD per 1M tokens."""

    model_name: str
    route: str
    kind: str  # input | output | cache_read | cache_write | cache_write_1h
    usd_per_million: Decimal
    effective: date | None


def fetch_products(client: Any, region: str) -> Iterator[dict[str, Any]]:
    """Yield every Bedrock product document for `region` (both service codes, all pages)."""
    for code in SERVICE_CODES:
        token = None
        while True:
            kwargs: dict[str, Any] = {
                "ServiceCode": code,
                "Filters": [{"Type": "TERM_MATCH", "Field": "regionCode", "Value": region}],
                "FormatVersion": "aws_v1",
                "MaxResults": 100,
            }
            if token:
                kwargs["NextToken"] = token
            page = client.get_products(**kwargs)
            for item in page.get("PriceList", []):
                yield json.loads(item) if isinstance(item, str) else item
            token = page.get("NextToken")
            if not token:
                break


def _kind(inference_type: str, usage_type: str) -> str | None:
    text = f"{inference_type} {usage_type}".lower()
    if "cache" in text and "read" in text:
        return "cache_read"
    if "cache" in text and "write" in text:
        return "cache_write_1h" if re.search(r"\b1h|1-hour|1hr", text) else "cache_write"
    if "input" in inference_type.lower() or "input-token" in usage_type.lower():
        return "input"
    if "output" in inference_type.lower() or "output-token" in usage_type.lower():
        return "output"
    return None


def _route(usage_type: str) -> str:
    text = usage_type.lower()
    if "global" in text:
        return GLOBAL
    if "cross-region" in text or "crossregion" in text or "-geo" in text:
        return GEO
    return IN_REGION


def parse_product(doc: dict[str, Any]) -> list[Offer]:
    """Return the on-demand token prices one product document holds (none for other products)."""
    attrs = doc.get("product", {}).get("attributes", {})
    feature = str(attrs.get("feature", ""))
    if feature and feature.lower() != "on-demand inference":
        return []  # batch, provisioned throughput, latency-optimized, ...: not what the logs record
    model = str(attrs.get("model") or attrs.get("titanModel") or "").strip()
    usage_type = str(attrs.get("usagetype", ""))
    kind = _kind(str(attrs.get("inferenceType", "")), usage_type)
    if not model or kind is None or "batch" in usage_type.lower():
        return []
    offers = []
    for term in doc.get("terms", {}).get("OnDemand", {}).values():
        effective = str(term.get("effectiveDate", ""))[:10]
        for dim in term.get("priceDimensions", {}).values():
            per_unit = _UNITS.get(str(dim.get("unit", "")).strip().lower())
            usd = dim.get("pricePerUnit", {}).get("USD")
            if per_unit is None or usd is None:
                continue
            offers.append(
                Offer(
                    model,
                    _route(usage_type),
                    kind,
                    (Decimal(usd) * per_unit).normalize(),
                    date.fromisoformat(effective) if effective else None,
                )
            )
    return offers


def refresh(client: Any, book: PriceBook, region: str, today: date) -> str:
    """Read the Price List for `region` and draft a price file; raise SourceError when AWS says no."""
    return draft_price_file(read_products(client, region), book, region, today)


def read_products(client: Any, region: str) -> list[dict[str, Any]]:
    """Every Bedrock product document for `region`; SourceError when the Price List cannot be read."""
    try:
        return list(fetch_products(client, region))
    except AWS_ERRORS as exc:
        hint = ": the caller needs pricing:GetProducts" if error_code(exc) in DENIED else ""
        raise SourceError(f"cannot read the AWS Price List ({reason(exc)}){hint}") from None


def match_products(
    products: Iterable[dict[str, Any]], book: PriceBook
) -> tuple[list[tuple[str, str, str, dict[str, Offer]]], list[str]]:
    """Pair Price List models with book ids: ([(model id, name, route, offers by kind)], [unmatched])."""
    ids: dict[str, str] = {}
    for p in book.prices:
        ids.setdefault(name_key(p.name), p.model)
    found: dict[tuple[str, str], dict[str, Offer]] = defaultdict(dict)
    for doc in products:
        for offer in parse_product(doc):
            found[(offer.model_name, offer.route)][offer.kind] = offer
    matched, unmatched = [], []
    for (name, route), kinds in sorted(found.items()):
        model = ids.get(name_key(name))
        if model is None or "input" not in kinds or "output" not in kinds:
            unmatched.append(f"{name} ({route}): {', '.join(sorted(kinds))}")
        else:
            matched.append((model, name, route, kinds))
    return matched, unmatched


def to_prices(products: Iterable[dict[str, Any]], book: PriceBook, region: str, today: date) -> list[Price]:
    """The Price List's on-demand token prices for calls from `region`, as the book's `price-list` layer.

    Each applies from the Price List's own effective date, so usage before a change keeps the book's history.
    """
    prices = []
    for model, name, route, kinds in match_products(products, book)[0]:
        start = max((o.effective for o in kinds.values() if o.effective), default=date(2000, 1, 1))
        value = {k: (kinds[k].usd_per_million if k in kinds else None) for k in PRICE_FIELDS}
        prices.append(
            Price(
                model, route, name, value["input"], value["output"], value["cache_read"], value["cache_write"],
                value["cache_write_1h"], None, start, None, f"AWS Price List API ({region}), read {today}",
                "price-list", (region,), (), "token", None, today,
            )
        )  # fmt: skip
    return prices


def draft_price_file(products: Iterable[dict[str, Any]], book: PriceBook, region: str, today: date) -> str:
    """Return TOML `[[prices]]` entries for every Price List model the book can name, and the rest as comments."""
    matched, unmatched = match_products(products, book)
    lines = [
        f"# Drafted by `bedrock-usage pricing refresh` from the AWS Price List API on {today}, region {region}.",
        "# Review every entry, then pass this file as CONFIG (or copy entries into yours): [[prices]] in a config",
        "# win over the Price List and the bundled book for calls from this region.",
        "",
    ]
    for model, name, route, kinds in matched:
        starts = sorted({str(o.effective) for o in kinds.values() if o.effective})
        if starts:  # not effective_from: that would leave earlier usage of the model unpriced
            lines.append(f"# Price List effective date(s): {', '.join(starts)}")
        lines += ["[[prices]]", f"model = {json.dumps(model)}", f"name = {json.dumps(name)}", f'routes = ["{route}"]']
        lines.append(f"regions = [{json.dumps(region)}]")
        for kind in ("input", "output", "cache_read", "cache_write", "cache_write_1h"):
            if kind in kinds:
                lines.append(f"{kind} = {kinds[kind].usd_per_million}")
        lines += [f'source = "AWS Price List API ({region}), {today}"', f"checked = {today}", ""]
    if unmatched:
        lines.append("# Price List products with no model id in the book (add `model = ...` entries by hand):")
        lines += [f"#   {u}" for u in unmatched]
    return "\n".join(lines) + "\n"


CACHE_FORMAT = 1
CACHE_SECONDS = 24 * 3600


@dataclass(frozen=True)
class Layer:
    """The Price List layer of one build: its prices, and one line on how they were obtained."""

    prices: tuple[Price, ...]
    note: str


class BlobStore(Protocol):
    def read_blob(self, name: str) -> bytes | None: ...
    def write_blob(self, name: str, data: bytes) -> None: ...


def _cached(store: BlobStore | None, region: str, now: datetime) -> tuple[list[dict[str, Any]], datetime] | None:
    raw = store.read_blob(f"prices/price-list-{region}.json") if store else None
    if raw is None:
        return None
    try:
        doc = json.loads(raw)
        fresh = 0 <= now.timestamp() - float(doc["fetched_at"]) < CACHE_SECONDS
        valid = doc["format"] == CACHE_FORMAT and doc["region"] == region and isinstance(doc["products"], list)
    except (ValueError, KeyError, TypeError):
        return None  # a damaged cache is read again, never trusted
    return (doc["products"], datetime.fromtimestamp(float(doc["fetched_at"]), UTC)) if fresh and valid else None


def price_list_layer(
    client: Callable[[], Any], store: BlobStore | None, regions: Iterable[str], book: PriceBook, now: datetime
) -> Layer:
    """Current prices for calls from `regions`, from a day-old cache in `store` or the Price List itself.

    Never fails a build: without permission or network the bundled book stands, and the note says so.
    """
    prices: list[Price] = []
    fetched, cached = [], []
    for region in sorted(set(regions)):
        found = _cached(store, region, now)
        if found is None:
            try:
                products = read_products(client(), region)
            except SourceError as exc:
                return Layer((), f"{exc}; prices are the bundled book's")
            if store is not None:
                doc = {"format": CACHE_FORMAT, "region": region, "fetched_at": now.timestamp(), "products": products}
                store.write_blob(f"prices/price-list-{region}.json", json.dumps(doc).encode())
            fetched.append(region)
            found = products, now
        else:
            cached.append(region)
        prices += to_prices(found[0], book, region, found[1].date())  # checked: the day it was read
    how = ", ".join(x for x in (f"read for {', '.join(fetched)}" if fetched else "",
                                f"cached under a day for {', '.join(cached)}" if cached else "") if x)  # fmt: skip
    return Layer(tuple(prices), f"AWS Price List {how}: {len(prices)} prices")
