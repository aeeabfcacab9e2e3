"""End to end: the build from records to a complete, valid, deterministic site."""

import csv
import hashlib
import io
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from generator.build import build
from generator.config import load_settings
from generator.errors import ConfigError, IncompleteDataError
from generator.site import render
from generator.usage import WINDOW_KEYS

PAGES = ["index.html", "pricing.html"] + [f"{kind}-{w}.html" for kind in ("usage", "matrix") for w in WINDOW_KEYS]
DATA = ["data/pricing.json", "data/manifest.json", "data/schema/usage.schema.json"] + [
    f"data/usage-{w}.{ext}" for w in WINDOW_KEYS for ext in ("json", "csv")
]


def load(site: Path, rel: str) -> Any:
    return json.loads((site / rel).read_text())


def test_every_fixed_path_exists(demo_site: Path) -> None:
    for rel in PAGES + DATA:
        assert (demo_site / rel).is_file(), rel
    assert "<h1>Bedrock spend · November so far</h1>" in (demo_site / "index.html").read_text()  # the month first


def test_usage_json_validates_against_the_shipped_schema(demo_site: Path) -> None:
    schema = load(demo_site, "data/schema/usage.schema.json")
    jsonschema.Draft202012Validator.check_schema(schema)
    for w in WINDOW_KEYS:
        doc = load(demo_site, f"data/usage-{w}.json")
        jsonschema.Draft202012Validator(schema).validate(doc)
        assert doc["window"]["key"] == w


def test_schema_rejects_a_broken_document(demo_site: Path) -> None:
    schema = load(demo_site, "data/schema/usage.schema.json")
    doc = load(demo_site, "data/usage-7d.json")
    doc["totals"]["cost_usd"] = -1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema)


@pytest.mark.parametrize("window", WINDOW_KEYS)
def test_peterdir_is_top_by_cost_and_invocations(demo_site: Path, window: str) -> None:
    doc = load(demo_site, f"data/usage-{window}.json")
    assert doc["users"][0]["name"] == "peterdir"
    assert max(doc["users"], key=lambda u: u["invocations"])["name"] == "peterdir"
    assert len(doc["users"]) >= 6
    audit = {i["principal"]: i["person"] for i in doc["identities"]}
    assert {p for p, person in audit.items() if person == "peterdir"} >= {
        "arn:aws:iam::123456789012:user/peterdir", "arn:aws:iam::123456789012:user/aider",
        "arn:aws:iam::123456789012:user/dirkcli"}  # fmt: skip


def test_totals_are_consistent(demo_site: Path) -> None:
    doc = load(demo_site, "data/usage-30d.json")
    t = doc["totals"]
    assert sum(u["invocations"] for u in doc["users"]) == t["invocations"] == doc["total_events"]
    daily = list(csv.DictReader(io.StringIO((demo_site / doc["daily_file"].join(("data/", ""))).read_text())))
    assert sum(int(d["invocations"]) for d in daily) == t["invocations"]
    assert abs(sum(Decimal(str(u["cost_usd"])) for u in doc["users"]) - Decimal(str(t["cost_usd"]))) < Decimal("0.0001")
    assert t["unpriced_tokens"] > 0 and doc["unpriced_models"]
    assert doc["date_range"] == f"{doc['days'][0]} to {doc['days'][-1]}" and len(doc["days"]) == 31


def test_manifest_lists_every_file_with_its_sha256(demo_site: Path) -> None:
    manifest = load(demo_site, "data/manifest.json")
    on_disk = {p.relative_to(demo_site).as_posix() for p in demo_site.rglob("*") if p.is_file()}
    assert set(manifest["files"]) == on_disk - {"data/manifest.json"}
    for rel, digest in manifest["files"].items():
        assert hashlib.sha256((demo_site / rel).read_bytes()).hexdigest() == digest
    assert manifest["skipped_records"] == {"total": 0, "by_reason": {}, "examples": []}
    assert manifest["data_through"] == "2026-11-27T07:00:00Z"
    assert manifest["windows"] == list(WINDOW_KEYS)


def test_csv_has_one_row_per_person_model_route(demo_site: Path) -> None:
    text = (demo_site / "data/usage-7d.csv").read_text().splitlines()
    doc = load(demo_site, "data/usage-7d.json")
    assert text[0].startswith("window,person,model,model_name,route,")
    rows = list(csv.DictReader(text))
    assert len({(r["person"], r["model"], r["route"]) for r in rows}) == len(rows)  # one row each
    assert sum(int(r["invocations"]) for r in rows) == doc["totals"]["invocations"]


def test_assets_are_fingerprinted(demo_site: Path) -> None:
    for path in (demo_site / "assets").rglob("*.*"):
        stem = path.name.split(".")
        assert len(stem) >= 3 and len(stem[-2]) == 10, path.name


def test_same_input_same_bytes(make_settings: Any, tmp_path: Path) -> None:
    build(make_settings(out=tmp_path / "a"))
    build(make_settings(out=tmp_path / "b"))
    files_a = {p.relative_to(tmp_path / "a"): p.read_bytes() for p in (tmp_path / "a").rglob("*") if p.is_file()}
    files_b = {p.relative_to(tmp_path / "b"): p.read_bytes() for p in (tmp_path / "b").rglob("*") if p.is_file()}
    assert files_a == files_b


def test_failed_build_leaves_the_previous_site(make_settings: Any, tmp_path: Path, monkeypatch: Any) -> None:
    out = tmp_path / "site"
    build(make_settings(out=out, windows="7d"))
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def explode(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(render, "usage_csv", explode)
    with pytest.raises(RuntimeError):
        build(make_settings(out=out))
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]  # no staging folders left behind


def test_refuses_to_replace_a_folder_it_did_not_build(make_settings: Any, tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    with pytest.raises(ConfigError, match="not a site bedrock-usage built"):
        build(make_settings(out=out))
    assert (out / "thesis.tex").read_text() == "precious"


def _bad_logs(tmp_path: Path) -> Path:
    logs = tmp_path / "logs"
    logs.mkdir()
    good = {
        "timestamp": "2026-11-26T10:00:00Z",
        "identity": {"arn": "arn:aws:iam::1:user/ann"},
        "modelId": "amazon.nova-lite-v1:0",
        "input": {"inputTokenCount": 1000},
        "output": {"outputTokenCount": 10},
    }
    (logs / "x.jsonl").write_text(json.dumps(good) + "\n{oops\n")
    return logs


def test_skipped_records_reach_the_manifest_and_pages(make_settings: Any, tmp_path: Path) -> None:
    out = tmp_path / "site"
    result = build(make_settings(out=out, logs=(_bad_logs(tmp_path),)))
    manifest = load(out, "data/manifest.json")
    assert manifest["skipped_records"]["by_reason"] == {"malformed_json": 1}
    assert "x.jsonl:2: malformed_json" in manifest["skipped_records"]["examples"][0]
    assert "1 log record skipped" in (out / "usage-7d.html").read_text()
    assert "1 record skipped (malformed_json 1)" in result.summary()


def test_strict_fails_on_skipped_records(make_settings: Any, tmp_path: Path) -> None:
    with pytest.raises(IncompleteDataError, match="1 log record skipped"):
        build(make_settings(out=tmp_path / "site", logs=(_bad_logs(tmp_path),), strict=True))
    assert not (tmp_path / "site").exists()


def test_strict_pricing_fails_on_unpriced_usage(make_settings: Any, tmp_path: Path) -> None:
    with pytest.raises(
        IncompleteDataError, match=r"tokens unpriced, not in any cost \(models: arn:aws:bedrock:us-east-1:1234"
    ):
        build(make_settings(out=tmp_path / "site", strict_pricing=True))


def test_a_config_price_wins_and_hourly_billing_stays_unpriced(make_settings: Any, tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    base = build(make_settings(out=tmp_path / "base"))
    config.write_text(
        "session_roles = ['DeveloperAccess']\n[aliases]\npeterdir = ['aider', 'dirkcli']\n"
        "[[prices]]\nmodel = 'writer.palmyra-x5-v1:0'\nroute = 'geo'\ninput = 6\noutput = 60\n"
    )
    result = build(make_settings(out=tmp_path / "site", config=config))
    palmyra = [next(m for m in r.reports[-1].models if m.name == "writer.palmyra-x5-v1:0") for r in (base, result)]
    assert palmyra[1].counters.cost == palmyra[0].counters.cost * 10  # the config's price, 10x the book's
    assert result.reports[-1].price_source("writer.palmyra-x5-v1:0") == "config"
    # A provisioned-throughput ARN is billed per hour: no token price can cost it, and it never reads as $0.
    # So is an application inference profile this config does not map (and no control plane is asked): unpriced.
    model, profile = sorted(result.unpriced)
    assert "application-inference-profile/" in model and "provisioned-model/" in profile
    assert result.unpriced[model][1] > 0 and result.unpriced[profile][1] > 0
    assert result.reports[0].users[0].name == "peterdir"
    with pytest.raises(IncompleteDataError, match=r"^\d+ calls and [\d,]+ tokens unpriced"):
        build(make_settings(out=tmp_path / "site2", config=config, strict_pricing=True))


def test_now_defaults_to_the_clock(tmp_path: Path) -> None:
    result = build(load_settings({"out": tmp_path / "s", "windows": "1d", "source": "demo"}, environ={}, env_file=None))
    assert abs((result.meta.generated_at - datetime.now(UTC)).total_seconds()) < 120
