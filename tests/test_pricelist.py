"""`pricing refresh` against recorded, real-shaped GetProducts documents (moto has no Price List)."""

import json
import tomllib
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from generator import aws
from generator.cli import cli
from generator.errors import SourceError
from generator.pricing import load_book, parse_prices
from generator.pricing.pricelist import parse_product, refresh

PAGES = json.loads((Path(__file__).parent / "fixtures/pricelist_get_products.json").read_text())


def stub_pages(stubber: Any) -> None:
    for code in ("AmazonBedrock", "AmazonBedrockFoundationModels"):
        pages = PAGES[code]
        for i, page in enumerate(pages):
            params = {
                "ServiceCode": code,
                "Filters": [{"Type": "TERM_MATCH", "Field": "regionCode", "Value": "us-east-1"}],
                "FormatVersion": "aws_v1",
                "MaxResults": 100,
            }
            if i:
                params["NextToken"] = f"page-{i}"
            response: dict[str, Any] = {"FormatVersion": "aws_v1", "PriceList": [json.dumps(p) for p in page]}
            if i + 1 < len(pages):
                response["NextToken"] = f"page-{i + 1}"
            stubber.add_response("get_products", response, params)


def test_refresh_drafts_reviewable_prices(stubbed: Any) -> None:
    client, stubber = stubbed("pricing")
    stub_pages(stubber)
    text = refresh(client, load_book(), "us-east-1", date(2026, 11, 27))
    entries = parse_prices(tomllib.loads(text, parse_float=Decimal)["prices"], "draft")
    got = {(p.model, p.route): p for p in entries}
    sonnet = "anthropic.claude-sonnet-4-5-20250929-v1:0"
    g = got[(sonnet, "global")]
    assert (g.input, g.output, g.cache_read, g.cache_write) == (3, 15, Decimal("0.3"), Decimal("3.75"))
    geo = got[(sonnet, "geo")]
    assert (geo.input, geo.output) == (Decimal("3.3"), Decimal("16.5"))  # 1K and 1M units both read
    nova = got[("amazon.nova-lite-v1:0", "in-region")]
    assert (nova.input, nova.output, nova.cache_read) == (Decimal("0.06"), Decimal("0.24"), Decimal("0.015"))
    assert len(entries) == 3  # batch and provisioned-throughput products are not on-demand token prices
    assert "#   Acme Giant 9 (in-region): input" in text  # unknown to the book: listed for a person


@pytest.mark.parametrize(
    ("feature", "inference", "usage", "kind"),
    [
        ("On-demand Inference", "Cache write input tokens 1h", "USE1-x-1h-cache-write", "cache_write_1h"),
        ("On-demand Inference", "Output tokens", "USE1-x-output-tokens", "output"),
        ("Batch Inference", "Input tokens", "USE1-x-input-tokens", None),
        ("On-demand Inference", "Images", "USE1-x-images", None),
    ],
)
def test_parse_product_kinds(feature: str, inference: str, usage: str, kind: str | None) -> None:
    doc = PAGES["AmazonBedrock"][0][0]
    doc = json.loads(json.dumps(doc))
    doc["product"]["attributes"].update(feature=feature, inferenceType=inference, usagetype=usage)
    offers = parse_product(doc)
    assert [o.kind for o in offers] == ([kind] if kind else [])


def test_refresh_without_permission_is_one_clear_error(stubbed: Any) -> None:
    client, stubber = stubbed("pricing")
    stubber.add_client_error("get_products", "AccessDeniedException", "no", 400)
    with pytest.raises(SourceError, match="needs pricing:GetProducts"):
        refresh(client, load_book(), "us-east-1", date(2026, 11, 27))


def test_cli_refresh_writes_the_file(stubbed: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    client, stubber = stubbed("pricing")
    stub_pages(stubber)
    monkeypatch.setattr(aws, "client", lambda *a, **k: client)
    out = tmp_path / "prices.toml"
    result = CliRunner().invoke(cli, ["pricing", "refresh", "--out", str(out), "--region", "us-east-1"])
    assert result.exit_code == 0, result.output
    assert "wrote 3 prices for us-east-1" in result.output
    shown = CliRunner().invoke(cli, ["pricing", "show", "--config", str(out), "--model", "nova-lite"])
    assert "0.06" in shown.output
