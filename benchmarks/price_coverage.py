"""Price-book coverage before and after: how many current Bedrock calls get their public price.

Runs the table of current prices in tests/test_prices_current.py (model id as logged, source region,
day, expected USD per 1M, source) and a list of model ids as teams log them in November 2026 against
the book at a baseline commit (exact model-and-route lookup, as that code did) and against this
checkout's book (regions, version aliases, family inference). Prints the figures; not a test.

    python benchmarks/price_coverage.py [--baseline f2651c3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tomllib
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from generator.modelids import parse_model_id  # noqa: E402
from generator.pricing import PriceBook, load_book, parse_prices  # noqa: E402
from tests.test_prices_current import CASES  # noqa: E402

TODAY = date(2026, 11, 27)
# Model ids as callers log them today (the list), each with the region the call came from.
LOGGED = [
    "global.anthropic.claude-sonnet-4-6", "us.anthropic.claude-sonnet-4-6", "anthropic.claude-sonnet-4-6[1m]",
    "anthropic.claude-opus-4-6-v1", "global.anthropic.claude-opus-4-6-v1", "global.anthropic.claude-opus-4-7",
    "us.anthropic.claude-opus-4-7", "global.anthropic.claude-opus-4-8", "eu.anthropic.claude-opus-4-8",
    "global.anthropic.claude-sonnet-5", "us.anthropic.claude-sonnet-5", "global.anthropic.claude-opus-5",
    "global.anthropic.claude-fable-5", "global.anthropic.claude-fable-5[1m]",
    "anthropic.claude-sonnet-4-5-20250929-v1:0", "anthropic.claude-haiku-4-5-20251001-v1:0",
    "anthropic.claude-opus-4-5-20251101-v1:0", "us.meta.llama3-1-405b-instruct-v1:0",
    "global.amazon.nova-2-lite-v1:0", "us.amazon.nova-2-lite-v1:0", "amazon.nova-2-sonic-v1:0",
    "us.meta.llama4-maverick-17b-instruct-v1:0", "us.meta.llama4-scout-17b-instruct-v1:0",
    "mistral.mistral-large-3-675b-instruct", "us.mistral.pixtral-large-2502-v1:0", "mistral.magistral-small-2509",
    "mistral.ministral-3-3b-instruct", "mistral.ministral-3-8b-instruct", "mistral.ministral-3-14b-instruct",
    "mistral.devstral-2-123b", "qwen.qwen3-32b-v1:0", "qwen.qwen3-coder-30b-a3b-v1:0",
    "qwen.qwen3-coder-480b-a35b-v1:0", "qwen.qwen3-235b-a22b-2507-v1:0", "google.gemma-3-4b-it",
    "google.gemma-3-12b-it", "google.gemma-3-27b-it", "nvidia.nemotron-nano-9b-v2:0", "nvidia.nemotron-nano-3-30b:0",
    "us.writer.palmyra-x4-v1:0", "us.writer.palmyra-x5-v1:0", "amazon.titan-embed-text-v2:0",
    "cohere.embed-english-v3", "cohere.embed-multilingual-v3", "cohere.embed-v4:0", "amazon.nova-canvas-v1:0",
    "stability.sd3-5-large-v1:0", "cohere.rerank-v3-5:0", "amazon.rerank-v1:0", "deepseek.v3-v1:0",
]  # fmt: skip


class ExactBook:
    """The baseline's rule: an entry for exactly this model and route, any region."""

    def __init__(self, book: PriceBook) -> None:
        self.book = book

    def quote_input(self, logged: str, region: str, day: date) -> tuple[Decimal | None, str]:
        ref = parse_model_id(logged)
        for p in self.book.prices:
            if p.model == ref.model and p.route == ref.route and p.covers(day) and not p.regions and not p.prefixes:
                return p.input, "book"
        return None, ""


class CurrentBook:
    def __init__(self, book: PriceBook) -> None:
        self.book = book

    def quote_input(self, logged: str, region: str, day: date) -> tuple[Decimal | None, str]:
        ref = parse_model_id(logged)
        quote = self.book.quote(ref.model, ref.route, day, ref.prefix, region)
        if quote is None:
            return None, ""
        price = quote.price
        return (price.input if price.unit == "token" else price.per_unit), quote.source


def baseline_book(commit: str) -> PriceBook:
    text = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{commit}:generator/data/prices.toml"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    entries = tomllib.loads(text, parse_float=Decimal)["prices"]
    return PriceBook(replace(p, origin="book") for p in parse_prices(entries, "baseline", "book"))


def score(name: str, book: ExactBook | CurrentBook) -> None:
    right = inferred = wrong = unpriced = 0
    for logged, region, day, expected, _source in CASES:
        got, source = book.quote_input(logged, region, day)
        want = Decimal(expected[0])
        if got is None:
            unpriced += 1
        elif source == "inferred":
            inferred += 1
        elif abs(got - want) <= want * Decimal("0.005"):
            right += 1
        else:
            wrong += 1
    priced = sum(book.quote_input(m, "us-east-1" if not m.startswith("eu.") else "eu-west-1", TODAY)[0] is not None
                 for m in LOGGED)  # fmt: skip
    print(
        f"{name:<9} price table ({len(CASES)} cases): {right} within 0.5%, {inferred} inferred, {wrong} wrong, "
        f"{unpriced} unpriced | ids as logged today ({len(LOGGED)}): {priced} priced, {len(LOGGED) - priced} unpriced"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="f2651c3", help="commit whose book is the baseline")
    args = parser.parse_args()
    old, new = baseline_book(args.baseline), load_book()
    print(f"books: baseline {len({p.model for p in old.prices})} models / {len(old.prices)} prices; "
          f"now {len({p.model for p in new.prices})} models / {len(new.prices)} prices")  # fmt: skip
    score("baseline", ExactBook(old))
    score("now", CurrentBook(new))


if __name__ == "__main__":
    main()
