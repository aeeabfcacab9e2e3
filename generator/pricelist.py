"""Draft a price file from the AWS Price List API (`pricing:GetProducts`) for a person to review.

Owns reading Price List product documents and mapping their display names, usage types and
units onto the price book's models, routes and USD per 1M tokens. Takes a client; the result is
text to review and pass as a config override, never applied silently.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from generator.aws import AWS_ERRORS, error_code
from generator.errors import SourceError
from generator.modelids import GEO, GLOBAL, IN_REGION
from generator.pricing import PriceBook, name_key

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
    try:
        return draft_price_file(fetch_products(client, region), book, region, today)
    except AWS_ERRORS as exc:
        raise SourceError(
            f"cannot read the AWS Price List ({error_code(exc)}): the caller needs pricing:GetProducts"
        ) from None


def draft_price_file(products: Iterable[dict[str, Any]], book: PriceBook, region: str, today: date) -> str:
    """Return TOML `[[prices]]` entries for every Price List model the book can name, and the rest as comments."""
    ids: dict[str, str] = {}
    for p in book.prices:
        ids.setdefault(name_key(p.name), p.model)
    found: dict[tuple[str, str], dict[str, Offer]] = defaultdict(dict)
    for doc in products:
        for offer in parse_product(doc):
            found[(offer.model_name, offer.route)][offer.kind] = offer
    lines = [
        f"# Drafted by `bedrock-usage pricing refresh` from the AWS Price List API on {today}, region {region}.",
        "# Review every entry, then pass this file as CONFIG (or copy entries into yours): [[prices]] here",
        "# replace the shipped book's entries for the same model and route.",
        "",
    ]
    unmatched: list[str] = []
    for (name, route), kinds in sorted(found.items()):
        model = ids.get(name_key(name))
        if model is None or "input" not in kinds or "output" not in kinds:
            unmatched.append(f"{name} ({route}): {', '.join(sorted(kinds))}")
            continue
        starts = sorted({str(o.effective) for o in kinds.values() if o.effective})
        if starts:  # not effective_from: that would leave earlier usage of the model unpriced
            lines.append(f"# Price List effective date(s): {', '.join(starts)}")
        lines += ["[[prices]]", f"model = {json.dumps(model)}", f"name = {json.dumps(name)}", f'routes = ["{route}"]']
        for kind in ("input", "output", "cache_read", "cache_write", "cache_write_1h"):
            if kind in kinds:
                lines.append(f"{kind} = {kinds[kind].usd_per_million}")
        lines += [f'source = "AWS Price List API ({region}), {today}"', ""]
    if unmatched:
        lines.append("# Price List products with no model id in the book (add `model = ...` entries by hand):")
        lines += [f"#   {u}" for u in unmatched]
    return "\n".join(lines) + "\n"
