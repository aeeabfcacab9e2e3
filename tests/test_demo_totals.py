"""The demo's dollars, recomputed by hand: a second, independent reading of the raw log files."""

import gzip
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from generator.sources.demo import write_demo_logs
from tests.conftest import NOW

# USD per 1M tokens (input, output, cache read, cache write) for each model id the demo logs,
# copied by hand from the published on-demand prices.
PRICES = {
    "global.anthropic.claude-sonnet-4-5-20250929-v1:0": ("3", "15", "0.30", "3.75"),
    "us.anthropic.claude-sonnet-4-5-20250929-v1:0": ("3.30", "16.50", "0.33", "4.125"),
    # the research assistant's application inference profile: the demo config maps it to US Sonnet 4.5
    "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/rsch4k2m9x1z": (
        "3.30", "16.50", "0.33", "4.125"),
    "us.anthropic.claude-opus-4-1-20250805-v1:0": ("15", "75", "1.50", "18.75"),
    "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-20250514-v1:0": (
        "3", "15", "0.30", "3.75"),
    "us.anthropic.claude-sonnet-4-20250514-v1:0": ("3", "15", "0.30", "3.75"),
    "us.anthropic.claude-haiku-4-5-20251001-v1:0": ("1.10", "5.50", "0.11", "1.375"),
    "global.anthropic.claude-haiku-4-5-20251001-v1:0": ("1", "5", "0.10", "1.25"),
    "eu.anthropic.claude-3-7-sonnet-20250219-v1:0": ("3", "15", "0.30", "3.75"),
    "anthropic.claude-3-5-haiku-20241022-v1:0": ("0.80", "4", "0.08", "1"),
    "anthropic.claude-3-haiku-20240307-v1:0": ("0.25", "1.25", None, None),
    "eu.amazon.nova-pro-v1:0": ("1.05", "4.20", "0.2625", "0"),  # called from eu-west-1: the European price
    "global.anthropic.claude-opus-4-7": ("5", "25", "0.50", "6.25"),
    "us.writer.palmyra-x5-v1:0": ("0.60", "6", None, None),
    "amazon.nova-lite-v1:0": ("0.06", "0.24", "0.015", "0"),
    "us.amazon.nova-micro-v1:0": ("0.035", "0.14", "0.00875", "0"),
    "meta.llama3-1-70b-instruct-v1:0": ("0.72", "0.72", None, None),
    "mistral.mistral-large-2407-v1:0": ("2", "6", None, None),
    "openai.gpt-oss-120b-1:0": ("0.15", "0.60", None, None),
}  # fmt: skip
PER_IMAGE = {"amazon.nova-canvas-v1:0": "0.04"}  # 1024x1024 standard, one image per call
UNPRICED = {"arn:aws:bedrock:us-east-1:123456789012:provisioned-model/q7h2k9x4m1ab"}  # billed per hour


def test_demo_7d_cost_matches_a_hand_calculation(demo_site: Path, tmp_path: Path) -> None:
    write_demo_logs(tmp_path, NOW)
    end = NOW.replace(minute=0)
    start = end - timedelta(days=7)
    cost, unpriced, calls, unpriced_calls = Decimal(0), 0, 0, 0
    for path in tmp_path.rglob("*.json.gz"):
        if "data" in path.parts:
            continue
        for line in gzip.decompress(path.read_bytes()).splitlines():
            rec = json.loads(line)
            when = datetime.strptime(rec["timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            if not start <= when < end:
                continue
            calls += 1
            counts = (
                rec.get("input", {}).get("inputTokenCount", 0),
                rec.get("output", {}).get("outputTokenCount", 0),
                rec.get("input", {}).get("cacheReadInputTokenCount", 0),
                rec.get("input", {}).get("cacheWriteInputTokenCount", 0),
            )
            if rec["modelId"] in PER_IMAGE:
                cost += Decimal(PER_IMAGE[rec["modelId"]]) * ("errorCode" not in rec)
                continue
            if rec["modelId"] in UNPRICED:
                unpriced += sum(counts)
                unpriced_calls += 1
                continue
            for count, price in zip(counts, PRICES[rec["modelId"]], strict=True):
                assert count == 0 or price is not None
                cost += count * Decimal(price or 0) / 1_000_000
    totals = json.loads((demo_site / "data/usage-7d.json").read_text())["totals"]
    assert totals["invocations"] == calls
    assert totals["unpriced_tokens"] == unpriced > 0
    assert totals["unpriced_invocations"] == unpriced_calls > 0 and totals["cost_complete"] is False
    assert abs(Decimal(str(totals["cost_usd"])) - cost) < Decimal("0.000001")
