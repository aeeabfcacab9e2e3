"""Hand-computed dollars from the published per-1M-token prices in generator/data/prices.toml."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from generator.modelids import GEO, GLOBAL, IN_REGION, UNKNOWN, parse_model_id
from generator.pricing import PriceBook, PriceEntryError, cost_of, load_book, parse_prices, price_table
from generator.usage import HourlyRow

BOOK = load_book()
HOUR = int(datetime(2026, 11, 20, 10, tzinfo=UTC).timestamp())
ARN = "arn:aws:bedrock:us-east-1:123456789012:"
PROFILES = {ARN + "application-inference-profile/team-a": "us.anthropic.claude-sonnet-4-20250514-v1:0"}
M = 1_000_000


def row(model: str, inp: int = 0, out: int = 0, cr: int = 0, cw: int = 0, hour: int = HOUR) -> HourlyRow:
    return HourlyRow(hour, "p", model, 1, 0, inp, out, cr, cw)


@pytest.mark.parametrize(
    ("model", "tokens", "dollars", "unpriced"),
    [
        ("anthropic.claude-3-haiku-20240307-v1:0", (M, M, 0, 0), "1.50", 0),  # .25 + 1.25
        ("us.anthropic.claude-3-haiku-20240307-v1:0", (2 * M, 0, 0, 0), "0.50", 0),
        ("anthropic.claude-3-5-haiku-20241022-v1:0", (100_000, 20_000, 500_000, 40_000), "0.24", 0),
        ("us.anthropic.claude-sonnet-4-20250514-v1:0", (10_000, 2_000, 100_000, 5_000), "0.10875", 0),
        (ARN + "inference-profile/us.anthropic.claude-sonnet-4-20250514-v1:0",
         (10_000, 2_000, 100_000, 5_000), "0.10875", 0),
        ("global.anthropic.claude-sonnet-4-5-20250929-v1:0", (M, M, M, M), "22.05", 0),  # 3+15+.3+3.75
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", (M, M, M, M), "24.255", 0),  # x1.1 geo
        ("eu.anthropic.claude-sonnet-4-5-20250929-v1:0", (1_000, 0, 0, 0), "0.0033", 0),
        ("global.anthropic.claude-haiku-4-5-20251001-v1:0", (500_000, 100_000, 0, 0), "1.00", 0),
        ("jp.anthropic.claude-haiku-4-5-20251001-v1:0", (500_000, 100_000, 0, 0), "1.10", 0),
        ("us.anthropic.claude-opus-4-1-20250805-v1:0", (1_000, 1_000, 10_000, 1_000), "0.12375", 0),
        ("anthropic.claude-opus-4-20250514-v1:0", (M, 0, 0, 0), "15", 0),
        ("global.anthropic.claude-opus-4-5-20251101-v1:0", (M, M, 0, 0), "30", 0),
        ("apac.anthropic.claude-opus-4-5-20251101-v1:0", (M, M, 0, 0), "33", 0),
        ("amazon.nova-micro-v1:0", (M, M, M, 0), "0.18375", 0),  # .035 + .14 + .00875
        ("us.amazon.nova-lite-v1:0", (2 * M, M, 0, 0), "0.36", 0),
        ("amazon.nova-premier-v1:0", (0, M, M, 0), "13.125", 0),
        ("meta.llama3-1-70b-instruct-v1:0", (M, M, 0, 0), "1.44", 0),
        ("mistral.mistral-large-2407-v1:0", (M, 500_000, 0, 0), "5", 0),
        ("cohere.command-r-plus-v1:0", (100_000, 100_000, 0, 0), "1.8", 0),
        ("us.deepseek.r1-v1:0", (M, M, 0, 0), "6.75", 0),
        ("openai.gpt-oss-120b-1:0", (M, M, 0, 0), "0.75", 0),
        ("amazon.titan-text-express-v1", (M, M, 0, 0), "0.80", 0),
        ("arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
         (M, 0, 0, 0), "0.25", 0),
        (ARN + "application-inference-profile/team-a", (10_000, 2_000, 100_000, 5_000), "0.10875", 0),
        # never a guessed price: unknown models, unmapped profiles, missing cache prices, wrong route
        ("acme.unknown-v1:0", (100, 50, 0, 0), "0", 150),
        (ARN + "application-inference-profile/unmapped", (100, 50, 7, 0), "0", 157),
        ("anthropic.claude-3-haiku-20240307-v1:0", (M, 0, 1_000, 0), "0.25", 1_000),
        ("us.openai.gpt-oss-120b-1:0", (M, 0, 0, 0), "0", M),  # no geo price
        ("anthropic.claude-sonnet-4-5-20250929-v1:0", (M, 0, 0, 0), "3.3", 0),  # in-region at the regional price
    ],
)  # fmt: skip
def test_cost_by_hand(model: str, tokens: tuple[int, int, int, int], dollars: str, unpriced: int) -> None:
    ref = parse_model_id(model, PROFILES)
    cost = cost_of(row(model, *tokens), ref, BOOK)
    assert cost.cost == Decimal(dollars)
    assert cost.unpriced_tokens == unpriced
    assert bool(cost.reason) == bool(unpriced)


def test_price_change_inside_a_window() -> None:
    entries = [
        {"model": "acme.m-v1", "input": 1, "output": 2, "effective_from": "2025-01-01", "effective_to": "2026-11-01"},
        {"model": "acme.m-v1", "input": 2, "output": 4, "effective_from": "2026-11-01"},
    ]
    book = load_book(parse_prices(entries, "test"))
    ref = parse_model_id("acme.m-v1")
    before = int(datetime(2026, 10, 31, 23, tzinfo=UTC).timestamp())
    after = before + 3600
    assert cost_of(row("acme.m-v1", M, M, hour=before), ref, book).cost == Decimal(3)
    assert cost_of(row("acme.m-v1", M, M, hour=after), ref, book).cost == Decimal(6)


def test_usage_before_a_model_existed_is_unpriced() -> None:
    early = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp())
    m = "anthropic.claude-sonnet-4-20250514-v1:0"
    assert cost_of(row(m, 10, hour=early), parse_model_id(m), BOOK).unpriced_tokens == 10


@pytest.mark.parametrize(
    ("logged", "model", "route", "prefix"),
    [
        ("anthropic.claude-3-haiku-20240307-v1:0", "anthropic.claude-3-haiku-20240307-v1:0", IN_REGION, ""),
        ("us.amazon.nova-pro-v1:0", "amazon.nova-pro-v1:0", GEO, "us"),
        ("us-gov.anthropic.claude-3-haiku-20240307-v1:0", "anthropic.claude-3-haiku-20240307-v1:0", GEO, "us-gov"),
        ("au.anthropic.x-v1:0", "anthropic.x-v1:0", GEO, "au"),
        ("global.anthropic.x-v1:0", "anthropic.x-v1:0", GLOBAL, "global"),
        (ARN + "inference-profile/eu.anthropic.x-v1:0", "anthropic.x-v1:0", GEO, "eu"),
        (ARN + "application-inference-profile/abc", "application-inference-profile/abc", UNKNOWN, ""),
        (ARN + "provisioned-model/xyz", "provisioned-model/xyz", UNKNOWN, ""),
        ("amazon.titan-text-express-v1", "amazon.titan-text-express-v1", IN_REGION, ""),
    ],
)  # fmt: skip
def test_parse_model_id(logged: str, model: str, route: str, prefix: str) -> None:
    ref = parse_model_id(logged)
    assert (ref.logged, ref.model, ref.route, ref.prefix) == (logged, model, route, prefix)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"model": "m", "input": -1, "output": 1}, "non-negative"),
        ({"model": "m", "input": 1, "output": 1, "route": "moon"}, "unknown route"),
        ({"model": "m", "input": 1}, "required"),
        ({"input": 1, "output": 1}, "model is required"),
        ({"model": "m", "input": 1, "output": 1, "colour": "red"}, "unknown field"),
        ({"model": "m", "input": "x", "output": 1}, "must be a number"),
        ({"model": "m", "input": 1, "output": 1, "effective_from": "yesterday"}, "must be a date"),
        ({"model": "m", "input": 1, "output": 1, "effective_from": "2025-02-01", "effective_to": "2025-01-01"},
         "must be after"),
    ],
)  # fmt: skip
def test_bad_price_entries_name_the_entry(entry: dict[str, object], message: str) -> None:
    with pytest.raises(PriceEntryError, match=message) as info:
        parse_prices([entry], "my.toml")
    assert "my.toml: prices[0]" in str(info.value)


def test_overlapping_dates_are_rejected() -> None:
    entries = [
        {"model": "m", "input": 1, "output": 1, "effective_from": "2025-01-01"},
        {"model": "m", "input": 2, "output": 2, "effective_from": "2025-06-01"},
    ]
    with pytest.raises(PriceEntryError, match="overlap"):
        parse_prices(entries, "my.toml")


def test_override_replaces_the_shipped_model_and_route() -> None:
    model = "anthropic.claude-3-haiku-20240307-v1:0"
    book = load_book(parse_prices([{"model": model, "input": 9, "output": 9}], "cfg"))
    assert book.lookup(model, IN_REGION, datetime(2026, 1, 1).date()).input == 9  # type: ignore[union-attr]
    assert book.lookup(model, GEO, datetime(2026, 1, 1).date()).input == Decimal("0.25")  # type: ignore[union-attr]


def test_shipped_book_covers_the_required_families() -> None:
    models = {p.model for p in BOOK.prices}
    for needle in ("claude-3-haiku", "claude-3-5-haiku", "claude-3-5-sonnet-20240620", "claude-3-5-sonnet-20241022",
                   "claude-3-7-sonnet", "claude-sonnet-4-2", "claude-sonnet-4-5", "claude-opus-4-2",
                   "claude-opus-4-1", "claude-opus-4-5", "claude-haiku-4-5", "nova-micro", "nova-lite",
                   "nova-pro", "nova-premier", "titan-text", "llama3", "mistral", "command-r-v1",
                   "command-r-plus", "deepseek", "gpt-oss"):  # fmt: skip
        assert any(needle in m for m in models), needle
    assert all(p.source for p in BOOK.prices)


def test_price_table_filters() -> None:
    text = price_table(BOOK, "nova")
    assert "amazon.nova-lite-v1:0" in text and "claude" not in text
    assert price_table(BOOK, "no-such-model") == "no price matches 'no-such-model'"
    assert isinstance(PriceBook([]).name_of("x"), str)


def test_a_price_finer_than_a_picodollar_a_token_is_summed_exactly() -> None:
    """Money is summed in whole units of the book's exponent: a price with nine decimals per 1M tokens makes the
    unit 10**-15 dollars, so three tokens cost exactly 3 x 0.000000001 / 1M dollars, in a row and in a window."""
    from zoneinfo import ZoneInfo

    from generator.identity import IdentityAudit
    from generator.pricing.cost import Pricer
    from generator.site.cube import summarize
    from generator.usage import Window

    book = PriceBook(parse_prices([{"model": "acme.m-v1", "input": "0.000000001", "output": 1}], "test"))
    assert book.money_exponent == 15 and load_book().money_exponent == 12
    hour = int(datetime(2026, 11, 20, 10, tzinfo=UTC).timestamp())
    rows = [HourlyRow(hour + 3600 * i, "p", "acme.m-v1", 1, 0, 3, 0, 0, 0) for i in range(2)]
    assert cost_of(rows[0], parse_model_id("acme.m-v1"), book).cost == Decimal("3E-15")
    window = Window("1d", datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC))
    pricer = Pricer(book, {"p": IdentityAudit("p", "p", "test")}, {})
    assert summarize(rows, window, ZoneInfo("UTC"), pricer).totals.cost == Decimal("6E-15")
