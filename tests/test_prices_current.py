"""Prices that stay current: every model, route, region and date change as a table, each with its source;
the family rule, per-unit pricing, the Price List layer (recorded GetProducts documents, regional products,
the day-long cache) and the order of the layers."""

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from generator.modelids import parse_model_id
from generator.pricing import load_book, parse_prices
from generator.pricing.cost import cost_of
from generator.pricing.pricelist import price_list_layer, to_prices
from generator.state import LocalStore
from generator.usage import HourlyRow

BOOK = load_book()
TODAY = date(2026, 11, 27)
FIXTURES = Path(__file__).parent / "fixtures"
AWS_PAGE = "AWS Bedrock pricing page"
GENAI = "genai-prices 0.2.3 Bedrock data (from the AWS pricing page and Price List)"
FACTS = "shared/AWS-FACTS.md pricing facts"

# (model id as logged, source region, day, (input, output, cache read, cache write) USD per 1M, source)
CASES = [
    # Claude 4.6 and later: 1.1x in-region and on geographic profiles, the list price on global.
    ("global.anthropic.claude-sonnet-4-6", "us-east-1", TODAY, ("3", "15", "0.3", "3.75"), FACTS),
    ("us.anthropic.claude-sonnet-4-6", "us-east-1", TODAY, ("3.3", "16.5", "0.33", "4.125"), FACTS),
    ("anthropic.claude-sonnet-4-6[1m]", "us-west-2", TODAY, ("3.3", "16.5", "0.33", "4.125"), FACTS),
    ("global.anthropic.claude-sonnet-4-6[1m]", "us-east-1", TODAY, ("3", "15", "0.3", "3.75"), FACTS),
    ("anthropic.claude-opus-4-6-v1", "us-east-1", TODAY, ("5.5", "27.5", "0.55", "6.875"), FACTS),
    ("global.anthropic.claude-opus-4-6-v1", "us-east-1", TODAY, ("5", "25", "0.5", "6.25"), FACTS),
    ("global.anthropic.claude-opus-4-7", "us-east-1", TODAY, ("5", "25", "0.5", "6.25"), FACTS),
    ("eu.anthropic.claude-opus-4-7", "eu-central-1", TODAY, ("5.5", "27.5", "0.55", "6.875"), FACTS),
    ("global.anthropic.claude-opus-4-8", "us-east-1", TODAY, ("5", "25", "0.5", "6.25"), FACTS),
    ("jp.anthropic.claude-opus-4-8", "ap-northeast-1", TODAY, ("5.5", "27.5", "0.55", "6.875"), FACTS),
    ("global.anthropic.claude-opus-5", "us-east-1", TODAY, ("5", "25", "0.5", "6.25"), FACTS),
    ("global.anthropic.claude-sonnet-5", "us-east-1", TODAY, ("2", "10", "0.2", "2.5"), GENAI),
    ("us.anthropic.claude-sonnet-5", "us-east-2", date(2026, 10, 1), ("2.2", "11", "0.22", "2.75"), GENAI),
    ("global.anthropic.claude-fable-5", "us-east-1", TODAY, ("10", "50", "1", "12.5"), FACTS + "; " + GENAI),
    ("global.anthropic.claude-fable-5-1", "us-east-1", TODAY, ("10", "50", "0.25", "12.5"), GENAI),
    ("global.anthropic.claude-opus-5-5", "us-east-1", TODAY, ("4", "20", "0.2", "5"), GENAI),
    ("global.anthropic.claude-sonnet-5-5", "us-east-1", TODAY, ("2", "10", "0.1", "2.5"), GENAI),
    # In-region Claude 4.5 at the regional price (the book had only geo and global)
    ("anthropic.claude-sonnet-4-5-20250929-v1:0", "us-east-1", TODAY, ("3.3", "16.5", "0.33", "4.125"), AWS_PAGE),
    ("anthropic.claude-haiku-4-5-20251001-v1:0", "us-west-2", TODAY, ("1.1", "5.5", "0.11", "1.375"), AWS_PAGE),
    ("anthropic.claude-opus-4-5-20251101-v1:0", "us-east-1", TODAY, ("5.5", "27.5", "0.55", "6.875"), AWS_PAGE),
    ("global.anthropic.claude-opus-4-5-20251101-v1:0", "us-east-1", TODAY, ("5", "25", "0.5", "6.25"), AWS_PAGE),
    # History: Claude 3.5 Sonnet v1/v2 doubled for extended access on 2025-12-01
    ("anthropic.claude-3-5-sonnet-20241022-v2:0", "us-east-1", date(2025, 11, 30), ("3", "15", "0.3", "3.75"),
     AWS_PAGE),
    ("anthropic.claude-3-5-sonnet-20241022-v2:0", "us-east-1", date(2025, 12, 1), ("6", "30", "0.6", "7.5"),
     "AWS extended-access pricing, from 2025-12-01"),
    ("us.anthropic.claude-3-5-sonnet-20240620-v1:0", "us-east-1", date(2026, 3, 1), ("6", "30", "0.6", "7.5"),
     "AWS extended-access pricing, from 2025-12-01"),
    # Regions: a call is priced where it was made
    ("eu.amazon.nova-pro-v1:0", "eu-west-1", TODAY, ("1.05", "4.2", "0.2625", "0"), AWS_PAGE + ", Europe"),
    ("amazon.nova-pro-v1:0", "eu-central-1", TODAY, ("1.05", "4.2", "0.2625", "0"), AWS_PAGE + ", Europe"),
    ("amazon.nova-pro-v1:0", "us-east-1", TODAY, ("0.8", "3.2", "0.2", "0"), FACTS),
    ("eu.amazon.nova-lite-v1:0", "", TODAY, ("0.078", "0.312", "0.0195", "0"), AWS_PAGE + ", Europe (eu. prefix)"),
    ("eu.amazon.nova-micro-v1:0", "eu-north-1", TODAY, ("0.046", "0.184", "0.0115", "0"), AWS_PAGE + ", Europe"),
    ("eu.meta.llama3-2-1b-instruct-v1:0", "eu-west-3", TODAY, ("0.13", "0.13", None, None), AWS_PAGE + ", Europe"),
    ("meta.llama3-70b-instruct-v1:0", "eu-west-2", TODAY, ("3.45", "4.55", None, None), AWS_PAGE + ", London"),
    ("us-gov.anthropic.claude-sonnet-4-5-20250929-v1:0", "us-gov-west-1", TODAY,
     ("3.6", "18", "0.36", "4.5"), "LiteLLM 1.110.2: us-gov.anthropic.claude-sonnet-4-5-20250929-v1:0"),
    ("anthropic.claude-sonnet-4-5-20250929-v1:0", "us-gov-east-1", TODAY,
     ("3.6", "18", "0.36", "4.5"), "LiteLLM 1.110.2: bedrock/us-gov-east-1/anthropic.claude-sonnet-4-5-20250929-v1:0"),
    ("in.moonshotai.kimi-k3", "ap-south-1", TODAY, ("3.3", "16.5", "0.33", "4.125"),
     "LiteLLM 1.110.2: in.moonshotai.kimi-k3"),
    ("apac.amazon.nova-pro-v1:0", "ap-northeast-1", TODAY, ("0.84", "3.36", "0.21", "0"),
     "LiteLLM 1.110.2: apac.amazon.nova-pro-v1:0 (5% over the US price)"),
    ("meta.llama3-70b-instruct-v1:0", "sa-east-1", TODAY, ("4.45", "5.88", None, None),
     "LiteLLM 1.110.2: bedrock/sa-east-1/meta.llama3-70b-instruct-v1:0"),
    ("mistral.mistral-large-2402-v1:0", "eu-west-3", TODAY, ("5.2", "15.6", None, None),
     "LiteLLM 1.110.2: bedrock/eu-west-3/mistral.mistral-large-2402-v1:0"),
    ("global.openai.gpt-5.5", "us-east-1", TODAY, ("5", "30", "0.5", None), "LiteLLM 1.110.2: global.openai.gpt-5.5"),
    ("anthropic.claude-haiku-4-5@20251001", "us-east-1", TODAY, ("1.1", "5.5", "0.11", "1.375"),
     "the Vertex AI form of the Haiku 4.5 id names the same model"),
    ("anthropic.claude-3-haiku-20240307-v1:0", "us-gov-west-1", TODAY, ("0.3", "1.5", None, None),
     "AWS GovCloud (US) pricing, 1.2x commercial"),
    ("us.meta.llama3-1-405b-instruct-v1:0", "us-east-2", TODAY, ("2.4", "2.4", None, None), AWS_PAGE),
    # Newer open-weight and third-party models
    ("global.amazon.nova-2-lite-v1:0", "us-east-1", TODAY, ("0.3", "2.5", "0.075", None), GENAI),
    ("us.amazon.nova-2-lite-v1:0", "us-east-1", TODAY, ("0.33", "2.75", "0.0825", None), GENAI),
    ("us.meta.llama4-maverick-17b-instruct-v1:0", "us-east-1", TODAY, ("0.24", "0.97", None, None), AWS_PAGE),
    ("us.meta.llama4-scout-17b-instruct-v1:0", "us-east-1", TODAY, ("0.17", "0.66", None, None), AWS_PAGE),
    ("mistral.mistral-large-3-675b-instruct", "us-west-2", TODAY, ("0.5", "1.5", None, None), GENAI),
    ("us.mistral.pixtral-large-2502-v1:0", "us-east-1", TODAY, ("2", "6", None, None), AWS_PAGE),
    ("mistral.magistral-small-2509", "us-west-2", TODAY, ("0.5", "1.5", None, None), GENAI),
    ("mistral.ministral-3-8b-instruct", "us-west-2", TODAY, ("0.15", "0.15", None, None), GENAI),
    ("mistral.devstral-2-123b", "us-west-2", TODAY, ("0.4", "2", None, None), GENAI),
    ("qwen.qwen3-32b-v1:0", "us-west-2", TODAY, ("0.15", "0.6", None, None), AWS_PAGE),
    ("qwen.qwen3-coder-30b-a3b-v1:0", "us-west-2", TODAY, ("0.15", "0.6", None, None), AWS_PAGE),
    ("qwen.qwen3-coder-480b-a35b-v1:0", "us-west-2", TODAY, ("0.45", "1.8", None, None), AWS_PAGE),
    ("qwen.qwen3-235b-a22b-2507-v1:0", "us-west-2", TODAY, ("0.22", "0.88", None, None), AWS_PAGE),
    ("google.gemma-3-27b-it", "us-east-1", TODAY, ("0.23", "0.38", None, None), GENAI),
    ("nvidia.nemotron-nano-9b-v2:0", "us-east-1", TODAY, ("0.06", "0.23", None, None), GENAI),
    ("us.writer.palmyra-x5-v1:0", "us-west-2", TODAY, ("0.6", "6", None, None), AWS_PAGE),
    ("us.writer.palmyra-x4-v1:0", "us-west-2", TODAY, ("2.5", "10", None, None), AWS_PAGE),
    ("deepseek.v3-v1:0", "us-west-2", TODAY, ("0.58", "1.68", None, None), AWS_PAGE),
    # Embeddings: input tokens only
    ("amazon.titan-embed-text-v2:0", "us-east-1", TODAY, ("0.02", "0", None, None), "AWS Price List (genai-prices)"),
    ("cohere.embed-english-v3", "us-east-1", TODAY, ("0.1", "0", None, None), AWS_PAGE),
    ("cohere.embed-v4:0", "us-east-1", TODAY, ("0.12", "0", None, None), AWS_PAGE),
]  # fmt: skip


def _money(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


@pytest.mark.parametrize(("logged", "region", "day", "expected", "source"), CASES)
def test_current_price(logged: str, region: str, day: date, expected: tuple[str | None, ...], source: str) -> None:
    ref = parse_model_id(logged)
    quote = BOOK.quote(ref.model, ref.route, day, ref.prefix, region)
    assert quote is not None, f"{logged} from {region} on {day} is unpriced (expected per {source})"
    p = quote.price
    assert (p.input, p.output, p.cache_read, p.cache_write) == tuple(map(_money, expected)), source
    assert quote.source == "book" and not quote.inferred_from


def test_the_table_is_big_enough_and_cited() -> None:
    assert len(CASES) >= 40 and all(source for *_, source in CASES)


def row(model: str, invocations: int = 1, errors: int = 0, tokens: tuple[int, int, int, int] = (0, 0, 0, 0),
        region: str = "us-east-1", day: date = TODAY) -> HourlyRow:  # fmt: skip
    hour = int(datetime(day.year, day.month, day.day, 12, tzinfo=UTC).timestamp())
    return HourlyRow(hour, "p", model, invocations, errors, *tokens, region)


@pytest.mark.parametrize(
    ("logged", "priced_as"),
    [
        ("global.anthropic.claude-opus-6", "anthropic.claude-opus-5-5"),
        ("anthropic.claude-sonnet-7-2-v1:0", "anthropic.claude-sonnet-5-5"),
        ("us.anthropic.claude-haiku-6-v1:0", "anthropic.claude-haiku-5-5"),
        ("anthropic.claude-fable-5-3", "anthropic.claude-fable-5-2"),
    ],
)
def test_a_future_claude_is_priced_by_family_and_marked_inferred(logged: str, priced_as: str) -> None:
    ref = parse_model_id(logged)
    cost = cost_of(row(logged, tokens=(1_000_000, 0, 0, 0)), ref, BOOK)
    known = BOOK.quote(priced_as, ref.route, TODAY, ref.prefix, "us-east-1")
    assert known is not None and cost.cost == known.price.input
    assert (cost.source, cost.inferred_from, cost.unpriced_tokens) == ("inferred", priced_as, 0)


def test_the_family_rule_never_prices_another_family_or_vendor() -> None:
    for logged in ("anthropic.claude-instant-v9", "acme.claude-opus-9", "amazon.nova-9-pro-v1:0"):
        ref = parse_model_id(logged)
        assert cost_of(row(logged, tokens=(1000, 0, 0, 0)), ref, BOOK).unpriced_tokens == 1000


def test_a_known_model_is_never_priced_as_another_on_a_day_it_lacks() -> None:
    ref = parse_model_id("anthropic.claude-sonnet-4-20250514-v1:0")
    cost = cost_of(row(ref.logged, tokens=(10, 0, 0, 0), day=date(2024, 1, 1)), ref, BOOK)
    assert (cost.unpriced_tokens, cost.source) == (10, "")


@pytest.mark.parametrize(
    ("logged", "calls", "errors", "dollars", "unpriced_calls"),
    [
        ("amazon.nova-canvas-v1:0", 5, 1, "0.16", 0),  # four images; a failed call makes none
        ("stability.sd3-5-large-v1:0", 2, 0, "0.16", 0),
        ("cohere.rerank-v3-5:0", 1000, 0, "2", 0),  # 2.00 per 1,000 queries
        ("amazon.nova-reel-v1:0", 3, 0, "0", 3),  # per second of video: the log has no duration
    ],
)
def test_per_unit_models(logged: str, calls: int, errors: int, dollars: str, unpriced_calls: int) -> None:
    cost = cost_of(row(logged, calls, errors, tokens=(40, 0, 0, 0)), parse_model_id(logged), BOOK)
    assert (cost.cost, cost.unpriced_invocations) == (Decimal(dollars), unpriced_calls)
    assert bool(cost.reason) == bool(unpriced_calls)


def test_provisioned_throughput_is_billed_per_hour_not_per_token() -> None:
    logged = "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abc"
    cost = cost_of(row(logged, 3, tokens=(100, 10, 0, 0)), parse_model_id(logged), BOOK)
    assert (cost.cost, cost.unpriced_invocations, cost.unpriced_tokens) == (0, 3, 110)
    assert "billed per hour" in cost.reason


def pages(region: str) -> dict[str, list[list[dict[str, Any]]]]:
    name = "pricelist_get_products.json" if region == "us-east-1" else f"pricelist_get_products_{region}.json"
    return dict(json.loads((FIXTURES / name).read_text()))


class FakePricing:
    """GetProducts over recorded documents, one page per call; counts calls, or fails like a denied role."""

    def __init__(self, denied: bool = False) -> None:
        self.reads: dict[str, int] = {}  # region -> times its products were read from the start
        self.denied = denied

    def get_products(self, **kwargs: Any) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        if self.denied:
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "GetProducts")
        region = kwargs["Filters"][0]["Value"]
        if kwargs["ServiceCode"] == "AmazonBedrock" and "NextToken" not in kwargs:
            self.reads[region] = self.reads.get(region, 0) + 1
        found = pages(region).get(kwargs["ServiceCode"], [[]]) if region in ("us-east-1", "eu-west-1") else [[]]
        page = int(kwargs.get("NextToken", "0"))
        response: dict[str, Any] = {"PriceList": [json.dumps(d) for d in found[page]]}
        if page + 1 < len(found):
            response["NextToken"] = str(page + 1)
        return response


def test_regional_products_price_calls_from_their_region_from_their_date() -> None:
    products = [d for pages_ in pages("eu-west-1").values() for page in pages_ for d in page]
    layer = to_prices(products, BOOK, "eu-west-1", TODAY)
    book = load_book(price_list=layer)
    (nova,) = [p for p in layer if p.model == "amazon.nova-pro-v1:0"]
    assert (nova.input, nova.output, nova.regions, nova.effective_from) == (
        Decimal("1.1"), Decimal("4.4"), ("eu-west-1",), date(2026, 10, 1))  # fmt: skip
    after = book.quote("amazon.nova-pro-v1:0", "in-region", TODAY, "", "eu-west-1")
    before = book.quote("amazon.nova-pro-v1:0", "in-region", date(2026, 9, 30), "", "eu-west-1")
    elsewhere = book.quote("amazon.nova-pro-v1:0", "in-region", TODAY, "", "eu-central-1")
    assert after and after.source == "price-list" and after.price.input == Decimal("1.1")
    assert before and before.source == "book" and before.price.input == Decimal("1.05")  # history kept
    assert elsewhere and elsewhere.source == "book" and elsewhere.price.input == Decimal("1.05")


def test_the_price_list_is_cached_for_a_day_in_the_store(tmp_path: Path) -> None:
    store, fake = LocalStore(tmp_path), FakePricing()
    now = datetime(2026, 11, 27, 6, tzinfo=UTC)
    first = price_list_layer(lambda: fake, store, ["eu-west-1", "us-east-1"], BOOK, now)
    assert first.prices and "read for eu-west-1, us-east-1" in first.note
    assert fake.reads == {"eu-west-1": 1, "us-east-1": 1}
    again = price_list_layer(lambda: fake, store, ["us-east-1", "eu-west-1"], BOOK, now + timedelta(hours=23))
    assert again.prices == first.prices and "cached under a day for eu-west-1, us-east-1" in again.note
    assert fake.reads == {"eu-west-1": 1, "us-east-1": 1}
    price_list_layer(lambda: fake, store, ["us-east-1"], BOOK, now + timedelta(hours=25))
    assert fake.reads == {"eu-west-1": 1, "us-east-1": 2}  # read again once the day is over
    (tmp_path / "prices/price-list-eu-west-1.json").write_text("{damaged")
    price_list_layer(lambda: fake, store, ["eu-west-1"], BOOK, now + timedelta(hours=1))
    assert fake.reads == {"eu-west-1": 2, "us-east-1": 2}  # a damaged cache is read again, never trusted


def test_without_permission_the_book_stands_and_says_so(tmp_path: Path) -> None:
    denied = FakePricing(denied=True)
    layer = price_list_layer(lambda: denied, LocalStore(tmp_path), ["us-east-1"], BOOK, datetime.now(UTC))
    assert layer.prices == () and "AccessDeniedException" in layer.note and "bundled book" in layer.note


def test_the_layers_in_order() -> None:
    model, region = "amazon.nova-pro-v1:0", "eu-west-1"
    price_list = to_prices([d for p in pages(region).values() for page in p for d in page], BOOK, region, TODAY)
    general = parse_prices([{"model": model, "routes": ["in-region"], "input": 9, "output": 9}], "cfg")
    books = {
        "book only": load_book(),
        "price list over the book": load_book(price_list=price_list),
        "config over everything, even a more specific Price List price": load_book(general, price_list),
    }
    got = {k: b.quote(model, "in-region", TODAY, "", region) for k, b in books.items()}
    assert [(q.source, q.price.input) for q in got.values() if q] == [
        ("book", Decimal("1.05")), ("price-list", Decimal("1.1")), ("config", Decimal(9))]  # fmt: skip
    # Among book prices, the one for the call's region beats the general one; elsewhere the general one applies.
    assert BOOK.lookup(model, "in-region", TODAY, "", "us-east-1").input == Decimal("0.8")  # type: ignore[union-attr]


def test_a_build_prices_calls_with_the_price_list_of_their_region(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from generator import aws
    from generator.cli import cli

    fake = FakePricing()
    monkeypatch.setattr(aws, "client", lambda *a, **k: fake)
    logs = tmp_path / "logs"
    logs.mkdir()
    records = [
        {"timestamp": "2026-11-26T10:00:00Z", "identity": {"arn": "arn:aws:iam::123456789012:user/ann"},
         "region": region, "requestId": f"r-{region}", "modelId": "amazon.nova-pro-v1:0",
         "input": {"inputTokenCount": 1_000_000}, "output": {"outputTokenCount": 0}}
        for region in ("eu-west-1", "us-east-1")
    ]  # fmt: skip
    (logs / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    out = tmp_path / "site"
    args = ["build", "--logs", str(logs), "--out", str(out), "--now", "2026-11-27T12:00:00Z", "--windows", "7d"]
    done = CliRunner().invoke(cli, [*args, "--price-list", "on"], env={"PRICE_LIST": ""})
    assert done.exit_code == 0, done.output
    assert fake.reads == {"eu-west-1": 1, "us-east-1": 1}  # the regions the calls came from
    usage = json.loads((out / "data/usage-7d.json").read_text())
    assert (
        usage["totals"]["cost_usd"] == 1.9
    )  # 1.10 + 0.80: eu-west-1 at the Price List's 1.10, us-east-1 at the book's
    assert usage["models"][0]["price_source"] == "mixed"
    pricing = json.loads((out / "data/pricing.json").read_text())
    assert "AWS Price List read for eu-west-1, us-east-1" in pricing["price_list"]
    listed = [p for p in pricing["prices"] if p["layer"] == "price-list"]
    assert listed and all(p["checked"] == "2026-11-27" and not p["stale"] for p in listed)
    assert "AWS Price List read for" in (out / "pricing.html").read_text()
    offline = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "off")], env={"PRICE_LIST": ""})
    assert offline.exit_code == 0 and fake.reads == {"eu-west-1": 1, "us-east-1": 1}  # files: off unless asked
    assert json.loads((tmp_path / "off/data/usage-7d.json").read_text())["totals"]["cost_usd"] == 1.85  # 1.05 + 0.80


def test_price_list_setting_is_validated() -> None:
    from generator.config import load_settings
    from generator.errors import ConfigError

    with pytest.raises(ConfigError, match="PRICE_LIST: use auto, on or off, not 'sometimes'"):
        load_settings({"source": "demo"}, environ={"PRICE_LIST": "sometimes"}, env_file=None)
    assert load_settings({"source": "demo"}, environ={}, env_file=None).price_list is False
    assert load_settings({"source": "demo", "price_list": "on"}, environ={}, env_file=None).price_list is True


@pytest.mark.parametrize(
    ("logged", "prompt", "dollars"),
    [
        # Sonnet 4.5 on global: 3/15 up to 200K prompt tokens; over it the whole request is 6/22.5 (cache 2x)
        ("global.anthropic.claude-sonnet-4-5-20250929-v1:0", (150_000, 0, 50_000), "0.45 + 0.015 + 0.1875"),
        ("global.anthropic.claude-sonnet-4-5-20250929-v1:0", (150_000, 0, 50_001), "0.9 + 0.0225 + 0.3750075"),
        # Haiku 5.5 bills every token at 5x over 100K; GPT-6 Sol input 2x and output 1.5x over 272K
        ("global.anthropic.claude-haiku-5-5", (100_001, 0, 0), "0.0500005 + 0.0025"),
        ("global.openai.gpt-6-sol", (272_001, 0, 0), "1.088004 + 0.015"),
        ("global.openai.gpt-6-sol", (272_000, 0, 0), "0.544 + 0.01"),
        # a model with no long-context rate: standard whatever the size
        ("global.anthropic.claude-opus-4-7", (900_000, 0, 0), "4.5 + 0.025"),
    ],
)
def test_long_context_is_priced_per_request_from_log_files(
    logged: str, prompt: tuple[int, int, int], dollars: str, tmp_path: Path
) -> None:
    from generator.config import load_settings
    from generator.sources import read_source

    inp, cache_read, cache_write = prompt
    record = {"timestamp": "2026-11-26T10:00:00Z", "identity": {"arn": "arn:aws:iam::123456789012:user/ann"},
              "region": "us-east-1", "modelId": logged, "requestId": "r1",
              "input": {"inputTokenCount": inp, "cacheReadInputTokenCount": cache_read,
                        "cacheWriteInputTokenCount": cache_write},
              "output": {"outputTokenCount": 1000}}  # fmt: skip
    (tmp_path / "a.jsonl").write_text(json.dumps(record) + "\n")
    settings = load_settings({"logs": (tmp_path / "a.jsonl",)}, environ={}, env_file=None)
    now = datetime(2026, 11, 27, tzinfo=UTC)
    (r,) = read_source(settings.source, settings.logs, now, now - timedelta(days=2), settings.cloudwatch).rows
    expected = sum(Decimal(x) for x in dollars.split(" + "))
    assert cost_of(r, parse_model_id(logged), BOOK).cost == expected


def test_long_context_thresholds_are_the_ones_sources_record() -> None:
    bad = {"model": "m", "input": 1, "output": 1, "long_context_above": 150_000, "long_input": 2, "long_output": 2}
    with pytest.raises(Exception, match="long_context_above must be one of 100000, 200000, 272000"):
        parse_prices([bad], "cfg")
    with pytest.raises(Exception, match="needs long_input and long_output"):
        parse_prices([{"model": "m", "input": 1, "output": 1, "long_context_above": 200_000}], "cfg")


@pytest.mark.parametrize(
    ("logged", "alias"),
    [
        ("anthropic.claude-opus-4-7", "anthropic.claude-opus-4-7-v1:0"),  # no version: the model of that name
        ("anthropic.claude-opus-4-6-v1", "anthropic.claude-opus-4-6-v1:0"),  # the :0 revision left out
        ("anthropic.claude-sonnet-4-5", "anthropic.claude-sonnet-4-5-20250929-v1:0"),  # no date
        ("amazon.nova-pro-v1:0:300k", "amazon.nova-pro-v1:0"),  # a context-length variant
        ("amazon.nova-pro-v2:0", None),  # another version may be another model at another price
        ("anthropic.claude-sonnet-4-5-20990101-v1:0", None),  # another date: another release
        ("anthropic.claude-3-5-sonnet", None),  # names two models (v1 and v2): ambiguous
    ],
)
def test_a_logged_id_names_a_book_model_only_when_nothing_disagrees(logged: str, alias: str | None) -> None:
    assert BOOK.alias_of(logged) == alias


def test_prices_not_checked_for_90_days_are_flagged_stale() -> None:
    from generator.site.export import BuildMeta, pricing_payload
    from generator.skips import SkipReport

    override = parse_prices([{"model": "acme.m-v1", "input": 1, "output": 1}], "cfg")
    book = load_book(override)

    def meta(day: date) -> BuildMeta:
        moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
        return BuildMeta(moment, moment, "test", "0", ("7d",), SkipReport(), 0, book)

    checked = [p.checked for p in book.prices if p.checked]
    fresh = pricing_payload(meta(min(checked) + timedelta(days=90)))["prices"]
    old = pricing_payload(meta(max(checked) + timedelta(days=91)))["prices"]
    assert not any(p["stale"] for p in fresh)
    assert all(p["stale"] == (p["layer"] == "book") for p in old)  # your own config prices are never stale
