"""The two public Bedrock price datasets the book is checked against, read from their copies in tests/fixtures/prices.

genai-prices 0.2.3 (pydantic/genai-prices, MIT: its `aws` provider) and LiteLLM 1.110.2
(`model_prices_and_context_window_backup.json`, MIT: every entry whose provider starts with `bedrock`), each
copied with only its price fields (`python -m tests.price_datasets --refresh GENAI_WHEEL LITELLM_WHEEL` copies
newer versions). `cases()` turns every entry into what a log would show: the model id as logged, the region the
call came from, and the prices the dataset gives for it (USD per 1M tokens, or per image or query).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from generator.modelids import GEO, IN_REGION, parse_model_id, version_parts
from generator.pricing import parse_prices
from generator.pricing.book import BOOK_PATH, PUBLIC_PATH, TIERS, Price, PriceBook, Quote, read_book

FOLDER = Path(__file__).parent / "fixtures" / "prices"
GENAI = FOLDER / "genai-prices-0.2.3-aws.json"
LITELLM = FOLDER / "litellm-1.110.2-bedrock.json"
GENAI_NAME, LITELLM_NAME = "genai-prices 0.2.3", "LiteLLM 1.110.2"
_REGION = re.compile(r"^[a-z]{2}(?:-gov)?-[a-z]+-\d$")
# The source region a dataset's price for a geographic or global profile is taken to be for.
HOME = {"": "us-east-1", "us": "us-east-1", "global": "us-east-1", "eu": "eu-central-1", "apac": "ap-northeast-1",
        "jp": "ap-northeast-1", "au": "ap-southeast-2", "ca": "ca-central-1", "in": "ap-south-1",
        "us-gov": "us-gov-west-1", "regional": "us-east-1"}  # fmt: skip
MILLION = Decimal(1_000_000)
CHECKED = date(2026, 12, 6)  # when these copies were read
# LiteLLM field -> the book's field (USD per token, times a million)
_LITELLM_TOKENS = {"input_cost_per_token": "input", "output_cost_per_token": "output",
                   "cache_read_input_token_cost": "cache_read", "cache_creation_input_token_cost": "cache_write",
                   "cache_creation_input_token_cost_above_1hr": "cache_write_1h"}  # fmt: skip
_GENAI_TOKENS = {"input_mtok": "input", "output_mtok": "output", "cache_read_mtok": "cache_read",
                 "cache_write_mtok": "cache_write", "cache_write_1h_mtok": "cache_write_1h"}  # fmt: skip


@dataclass(frozen=True)
class Case:
    """One dataset entry as a call would log it."""

    dataset: str  # GENAI_NAME or LITELLM_NAME
    key: str  # the entry's key in the dataset
    logged: str  # the model id as a log would carry it
    region: str  # the region the call is taken to come from
    kind: str  # token | image | query | second | hourly | mantle | not-bedrock-runtime
    prices: dict[str, Decimal] = field(default_factory=dict)  # book field -> USD (per 1M tokens, or per unit)
    day: date = CHECKED  # a day this price is in effect on
    since: date | None = None  # the day a dated price change in the dataset starts this price
    until: date | None = None  # the day the dataset's next price starts
    name: str = ""
    explicit_region: bool = False  # the key names the region (LiteLLM's `bedrock/<region>/...`)
    tiers: dict[str, dict[str, Decimal]] = field(default_factory=dict)  # flex, priority -> their token prices


def _litellm_case(key: str, entry: dict[str, Any]) -> Case:
    provider, mode = entry["litellm_provider"], entry.get("mode")
    parts = key.split("/")
    name = parts[-1]
    region = next((p for p in parts[:-1] if _REGION.match(p)), "")
    if provider == "bedrock_mantle":
        return Case(LITELLM_NAME, key, name, region or HOME[""], "mantle", _litellm_tokens(entry),
                    explicit_region=bool(region))  # fmt: skip
    if "claude_platform" in parts or mode == "guardrail":
        return Case(LITELLM_NAME, key, name, region or HOME[""], "not-bedrock-runtime")
    if any(p.endswith("-commitment") for p in parts):
        return Case(LITELLM_NAME, key, name, region or HOME[""], "hourly")
    prefix = name.split(".", 1)[0] if name.count(".") >= 2 else ""
    named, region = bool(region), region or HOME.get(prefix, HOME[""])
    unit = next((u for field_, u in _UNITS if entry.get(field_) and not entry.get("input_cost_per_token")), "")
    if unit:
        field_ = next(f for f, u in _UNITS if u == unit and entry.get(f))
        return Case(LITELLM_NAME, key, name, region, unit, {"per_unit": _dollars(entry[field_])},
                    explicit_region=named)  # fmt: skip
    tiers = {t: _litellm_tokens(entry, f"_{t}") for t in TIERS if entry.get(f"input_cost_per_token_{t}")}
    return Case(LITELLM_NAME, key, name, region, "token", _litellm_tokens(entry), explicit_region=named, tiers=tiers)


# A model with no per-token input price is billed per one of these (the first the entry has).
_UNITS = (("output_cost_per_image", "image"), ("input_cost_per_query", "query"),
          ("input_cost_per_video_per_second", "second"))  # fmt: skip


def _dollars(value: float) -> Decimal:
    return Decimal(repr(value)).normalize()


def _litellm_tokens(entry: dict[str, Any], tier: str = "") -> dict[str, Decimal]:
    """The entry's token prices per 1M (of a service tier's fields: `input_cost_per_token_flex`, ...)."""
    found = {book: entry.get(k + tier) for k, book in _LITELLM_TOKENS.items()}
    return {book: (_dollars(v) * MILLION).normalize() for book, v in found.items() if v is not None}


def _genai_prices(prices: dict[str, Any]) -> dict[str, Decimal]:
    out = {}
    for k, book in _GENAI_TOKENS.items():
        value = prices.get(k)
        if isinstance(value, dict):  # tiered: the base rate (the long-context tier is checked apart)
            value = value["base"]
        if value is not None:
            out[book] = Decimal(value).normalize()
    return out


def _genai_cases(model: dict[str, Any]) -> Iterator[Case]:
    ident: str = model["id"]
    head, _, rest = ident.partition(".")
    logged = {"regional": [rest, f"us.{rest}"], "global": [ident]}.get(head, [ident])  # regional: in-region and geo
    variants = model["prices"] if isinstance(model["prices"], list) else [{"prices": model["prices"]}]
    starts = sorted(date.fromisoformat(v["constraint"]["start_date"]) for v in variants if "constraint" in v)
    for variant in variants:
        since = date.fromisoformat(variant["constraint"]["start_date"]) if "constraint" in variant else None
        later = [s for s in starts if since is None or s > since]
        day = min(CHECKED, later[0] - timedelta(days=1)) if later else CHECKED  # a day this variant is in effect
        prices = _genai_prices(variant["prices"])
        for one in logged:
            yield Case(GENAI_NAME, ident, one, HOME[""], "token", prices, day, since, later[0] if later else None,
                       model.get("name") or "")  # fmt: skip


def cases() -> list[Case]:
    """Every entry of both datasets, as calls."""
    genai = json.loads(GENAI.read_text())["models"]
    litellm = json.loads(LITELLM.read_text())["models"]
    found = [case for model in genai for case in _genai_cases(model)]
    return found + [_litellm_case(key, entry) for key, entry in sorted(litellm.items())]


def quote(book: PriceBook, case: Case) -> Quote | None:
    """The book's price for the case's call."""
    ref = parse_model_id(case.logged)
    return book.quote(ref.model, ref.route, case.day, ref.prefix, case.region)


def differences(price: Price, case: Case) -> dict[str, tuple[Decimal | None, Decimal]]:
    """Where the book's price differs from the dataset's: field -> (the book's, the dataset's)."""
    if case.kind != "token":
        return {} if price.unit == case.kind else {"unit": (None, Decimal(0))}
    if price.unit != "token":
        return {"unit": (None, Decimal(0))}
    found = {k: (getattr(price, k), v) for k, v in case.prices.items()}
    return {k: (mine, theirs) for k, (mine, theirs) in found.items() if mine is None or mine != theirs}


def _call(case: Case) -> tuple[str, str, str, str, date]:
    ref = parse_model_id(case.logged)
    return version_parts(ref.model)[0], ref.route, ref.prefix, case.region, case.day


def verdicts(book: PriceBook) -> list[tuple[Case, str]]:
    """Every case that is to be priced, with what is wrong with the book's price for it ("" when nothing is).

    A call's price is right when it equals one dataset's price for that call (the two disagree on some calls, such
    as Claude in-region, where LiteLLM gives the global price); a disputed entry says so itself. Per-unit models are
    checked for their unit, not their amount (image sizes and qualities, which the log does not carry, differ).
    """
    todo = [c for c in cases() if c.kind not in ("hourly", "not-bedrock-runtime")]
    agreeing: set[tuple[str, str, str, str, date]] = set()
    found: list[Quote | None] = []
    for case in todo:
        found.append(got := quote(book, case))
        if got is not None and (case.kind == "mantle" or not differences(got.price, case)):
            agreeing.add(_call(case))
    out = []
    for case, got in zip(todo, found, strict=True):
        if got is None:
            out.append((case, "unpriced"))
        elif case.kind == "mantle" or _call(case) in agreeing or got.price.disputed:
            out.append((case, ""))
        else:
            diff = differences(got.price, case)
            out.append((case, ", ".join(f"{k} {mine} (dataset {theirs})" for k, (mine, theirs) in diff.items())))
    return out


# Dataset entries whose number looks wrong beside its neighbours: the book carries it, marked disputed, with why.
DISPUTED = {
    "bedrock/us-gov-east-1/meta.llama3-8b-instruct-v1:0": "LiteLLM 1.110.2 gives output 2.65 per 1M, four times the "
    "GovCloud rate of every other Llama 3 8B entry (1.2x the commercial 0.60 would be 0.72); no other public source",
}
PUBLIC_BOOK = PUBLIC_PATH
_HEADER = """# Prices the curated book (prices.toml) lacks or has wrong, from the two public datasets, one entry per
# dataset entry; and [[tiers]], the priority and flex service tiers' token prices LiteLLM gives. Written by
# `python -m tests.price_datasets --write` from the copies in tests/fixtures/prices; do not edit: fix a
# price in prices.toml (a more specific entry wins) or in the generator's DISPUTED list.
# Each entry's source names the dataset, its version and the entry's key, where the number can be found.
"""


def entry_for(case: Case, book: PriceBook) -> dict[str, Any]:
    """The book entry that prices the case's call at the dataset's price (under the book's id for the model)."""
    ref = parse_model_id(case.logged)
    model = ref.model if any(p.model == ref.model for p in book.prices) else book.alias_of(ref.model) or ref.model
    out: dict[str, Any] = {"model": model, "name": case.name or book.name_of(model), "routes": [ref.route]}
    if ref.prefix and ref.route == "geo":
        out["prefixes"] = [ref.prefix]
    if case.explicit_region:
        out["regions"] = [case.region]
    if case.kind in ("token", "mantle"):
        # a field the dataset leaves out that the book reads as 0 (Nova's free cache writes) stays 0: no number made up
        base = book.lookup(model, IN_REGION, case.day, "", HOME[""])
        zeros = {f: Decimal(0) for f in ("cache_read", "cache_write") if base and getattr(base, f) == 0}
        out |= {"input": Decimal(0), "output": Decimal(0)} | zeros | case.prices
    else:
        out |= {"unit": case.kind, "per_unit": case.prices["per_unit"]}
    if case.since:
        out["effective_from"] = case.since
    if case.until:
        out["effective_to"] = case.until
    out["source"] = f"{case.dataset}: {case.key}"
    out["checked"] = CHECKED
    if case.key in DISPUTED:
        out["disputed"] = DISPUTED[case.key]
    return out


def public_entries(curated: list[Price]) -> list[dict[str, Any]]:
    """Entries for every call the curated book leaves unpriced or prices as neither dataset does."""
    book = PriceBook(curated)
    out, scopes = [], set()
    for case, wrong in verdicts(book):
        if not wrong:
            continue
        entry = entry_for(case, book)
        scope = (entry["model"], *entry["routes"], *entry.get("regions", ()), *entry.get("prefixes", ()),
                 entry.get("effective_from"))  # fmt: skip
        if scope not in scopes:  # the first dataset's price for a call both give (genai-prices' before LiteLLM's)
            scopes.add(scope)
            out.append(entry)
    return out


def _toml(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(map(_toml, value)) + "]"
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return str(value)


def tier_entries(curated: list[Price]) -> list[dict[str, Any]]:
    """The priority and flex service tiers' token prices LiteLLM gives, per model (and region, where its key names
    one), under the book's id for the model."""
    book = PriceBook([*curated, *parse_prices(public_entries(curated), "public", "book")])
    out, scopes = [], set()
    for case in cases():
        for tier, prices in sorted(case.tiers.items()):
            if "input" not in prices or "output" not in prices:
                continue
            entry = entry_for(replace(case, prices=prices), book)
            entry = {"model": entry["model"], "tier": tier, **{k: v for k, v in entry.items() if k not in
                     ("model", "name", "routes", "prefixes")}}  # fmt: skip
            scope = (entry["model"], tier, *entry.get("regions", ()))
            if scope not in scopes:
                scopes.add(scope)
                out.append(entry)
    return out


def render(entries: list[dict[str, Any]], tiers: list[dict[str, Any]]) -> str:
    """The entries and tier prices as the text of PUBLIC_BOOK."""
    blocks = [f"[[{table}]]\n" + "".join(f"{k} = {_toml(v)}\n" for k, v in e.items())
              for table, found in (("prices", entries), ("tiers", tiers)) for e in found]  # fmt: skip
    return _HEADER + "\n" + "\n".join(blocks)


def write_public_book() -> int:
    """Write PUBLIC_BOOK from the dataset copies and the curated book; return how many entries it has."""
    curated = read_book(BOOK_PATH)
    entries, tiers = public_entries(curated), tier_entries(curated)
    PUBLIC_BOOK.write_text(render(entries, tiers))
    return len(entries) + len(tiers)


if __name__ == "__main__":
    import sys

    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python -m tests.price_datasets --write")
    print(f"{write_public_book()} entries written to {PUBLIC_BOOK}")


CITED_FIELDS = ("input", "output", "cache_read", "cache_write", "cache_write_1h", "per_unit")


def carried(price: Price, dataset: str) -> str:
    """What of the price the dataset it cites does not carry ("" when the dataset has an entry with every number
    the price gives, for its model on its route)."""
    base = version_parts(price.model)[0]
    # a 0 (no output for an embedding, free cache writes) is the book's reading, not a number a source must carry
    mine = {f: getattr(price, f) for f in CITED_FIELDS if getattr(price, f)}
    nearest = ""
    for case in cases():
        ref = parse_model_id(case.logged)
        # genai-prices gives a plain id's price to its geographic profiles too (its ids match by substring)
        routes = (ref.route, GEO) if case.dataset == GENAI_NAME and case.key == case.logged else (ref.route,)
        if case.dataset != dataset or version_parts(ref.model)[0] != base or price.route not in routes:
            continue
        if price.prefixes and ref.prefix not in price.prefixes:
            continue
        missing = [f"{f} {v}" for f, v in mine.items() if case.prices.get(f) != v]
        if not missing:
            return ""
        nearest = f"{case.key} lacks {', '.join(missing)}"
    return nearest or f"no {price.route} entry for {price.model}"
