"""Attribution: request metadata, application inference profiles and Bedrock API keys, end to end.

The control plane (Bedrock's ListInferenceProfiles, GetInferenceProfile, ListTagsForResource; IAM's ListUserTags)
is botocore's Stubber: moto has none of these. Totals are checked against an independent recount of the raw
records with the prices written out by hand.
"""

from __future__ import annotations

import json
import random
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from click.testing import CliRunner

from generator import build as build_module
from generator import profiles
from generator.attribution import Attribution, Attributor, MetaText, Profile, parse_attribution
from generator.build import build
from generator.cli import cli
from generator.config import load_settings
from generator.site.export import usd
from generator.sources.files import read_files
from generator.state import open_store
from generator.usage import row_of, valid_counts
from tests.conftest import NOW, NOW_ISO

ACCOUNT = "123456789012"
GATEWAY = f"arn:aws:sts::{ACCOUNT}:assumed-role/chat-gateway/gateway"
RESEARCH = f"arn:aws:bedrock:us-east-1:{ACCOUNT}:application-inference-profile/res0001"
DATA = f"arn:aws:bedrock:us-east-1:{ACCOUNT}:application-inference-profile/dat0002"
FOREIGN = "arn:aws:bedrock:us-east-1:999988887777:application-inference-profile/oth0003"
DELETED = f"arn:aws:bedrock:us-east-1:{ACCOUNT}:application-inference-profile/gone004"
NOVA = "amazon.nova-lite-v1:0"
PRICE = (Decimal("0.06"), Decimal("0.24"))  # USD per 1M input, output tokens: Nova Lite in us-east-1
OWNED_KEY, BARE_KEY = "BedrockAPIKey-abc123", "BedrockAPIKey-xyz789"
CONFIG = """
[attribution]
person_key = "user_id"
team_key = "team"
tags = ["application_name"]

[teams]
core = ["ann", "bob"]
gateway-team = ["chat-gateway"]
"""


def rec(
    arn: str, when: datetime, model: str = NOVA, meta: dict[str, str] | None = None, tokens: int = 1000
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "schemaType": "ModelInvocationLog", "timestamp": when.strftime("%Y-%m-%dT%H:%M:%SZ"), "accountId": ACCOUNT,
        "identity": {"arn": arn}, "region": "us-east-1", "requestId": str(uuid.uuid4()), "modelId": model,
        "input": {"inputTokenCount": tokens}, "output": {"outputTokenCount": tokens // 4},
    }  # fmt: skip
    if meta is not None:
        out["requestMetadata"] = meta
    return out


def dataset(n: int = 600, seed: int = 7) -> list[dict[str, Any]]:
    """An app role calling for 50 users (some naming a team, some through tagged profiles), API keys, IAM users."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        when = NOW - timedelta(hours=rng.randrange(1, 24 * 20), minutes=rng.randrange(60))
        tokens = rng.randrange(100, 20_000)
        kind = rng.random()
        if kind < 0.55:
            meta = {"user_id": f"u{rng.randrange(50):02d}", "application_name": rng.choice(["helpdesk", "codegen"])}
            if rng.random() < 0.2:
                meta["team"] = "metadata-team"
            model = rng.choice([NOVA, NOVA, RESEARCH, DATA])
            out.append(rec(GATEWAY, when, model, meta, tokens))
        elif kind < 0.65:
            out.append(rec(GATEWAY, when, NOVA, None, tokens))  # the gateway's own calls
        elif kind < 0.75:
            key = rng.choice([OWNED_KEY, BARE_KEY])
            out.append(rec(f"arn:aws:iam::{ACCOUNT}:user/{key}", when, NOVA, None, tokens))
        else:
            who = rng.choice(["ann", "bob"])
            out.append(rec(f"arn:aws:iam::{ACCOUNT}:user/{who}", when, rng.choice([NOVA, RESEARCH]), None, tokens))
        if i % 7 == 0:
            out[-1]["requestMetadata"] = {**out[-1].get("requestMetadata", {}), "free_text": "not kept"}
    return out


def recount(records: list[dict[str, Any]], start: datetime) -> dict[str, dict[str, Decimal]]:
    """The dollars by person, team and application, by this test's own reading of the rules."""
    teams_of = {"ann": "core", "bob": "core", "chat-gateway": "gateway-team"}
    profile_tags = {RESEARCH: {"team": "research", "application_name": "agent"}, DATA: {"team": "data"}}
    out: dict[str, dict[str, Decimal]] = {"person": defaultdict(Decimal), "team": defaultdict(Decimal),
                                          "app": defaultdict(Decimal)}  # fmt: skip
    for r in records:
        when = datetime.strptime(r["timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        if not start <= when < NOW.replace(minute=0):
            continue
        cost = (r["input"]["inputTokenCount"] * PRICE[0] + r["output"]["outputTokenCount"] * PRICE[1]) / 1_000_000
        meta, tags = r.get("requestMetadata", {}), profile_tags.get(r["modelId"], {})
        name = r["identity"]["arn"].rsplit("/", 1)[-1]
        if name == "gateway":
            name = "chat-gateway"
        elif name == OWNED_KEY:
            name = "zoe"
        elif name == BARE_KEY:
            name = "API key xyz789"
        person = meta.get("user_id", name)
        out["person"][person] += cost
        out["team"][meta.get("team") or tags.get("team") or teams_of.get(person, "")] += cost
        out["app"][meta.get("application_name") or tags.get("application_name", "")] += cost
    return out


def control_plane(monkeypatch: pytest.MonkeyPatch, *, list_error: str = "", iam_error: str = "") -> list[Stubber]:
    """Stubbed Bedrock and IAM control planes behind `aws.client` for the build."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    bedrock = boto3.client("bedrock", region_name="us-east-1")
    iam = boto3.client("iam", region_name="us-east-1")
    stubs = [Stubber(bedrock), Stubber(iam)]
    b, i = stubs
    if list_error:
        b.add_client_error("list_inference_profiles", list_error, "no", 403)
    else:
        b.add_response(
            "list_inference_profiles",
            {"inferenceProfileSummaries": [_summary(DATA, "data-pipeline"), _summary(RESEARCH, "research-agent")]},
            {"typeEquals": "APPLICATION"},
        )
        for arn, tags in ((DATA, {"team": "data"}), (RESEARCH, {"team": "research", "application_name": "agent"})):
            b.add_response("list_tags_for_resource", {"tags": [{"key": k, "value": v} for k, v in tags.items()]},
                           {"resourceARN": arn})  # fmt: skip
    for user, owner in ((OWNED_KEY, "zoe"), (BARE_KEY, "")):
        if iam_error:
            i.add_client_error("list_user_tags", iam_error, "no", 403)
            break
        i.add_response("list_user_tags", {"Tags": [{"Key": "owner", "Value": owner}] if owner else []},
                       {"UserName": user})  # fmt: skip
    for s in stubs:
        s.activate()
    clients = {"bedrock": bedrock, "iam": iam}
    monkeypatch.setattr(build_module.aws, "client", lambda service, **kw: clients[service])
    return stubs


def _summary(arn: str, name: str, model: str = NOVA) -> dict[str, Any]:
    return {"inferenceProfileName": name, "inferenceProfileArn": arn, "inferenceProfileId": arn.rsplit("/", 1)[1],
            "type": "APPLICATION", "status": "ACTIVE",
            "models": [{"modelArn": f"arn:aws:bedrock:us-east-1::foundation-model/{model}"}]}  # fmt: skip


def site(tmp_path: Path, records: list[dict[str, Any]], environ: dict[str, str] | None = None) -> Path:
    logs = tmp_path / "logs"
    logs.mkdir(exist_ok=True)
    (logs / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    config = tmp_path / "c.toml"
    config.write_text(CONFIG)
    out = tmp_path / "site"
    env = {"CONTROL_PLANE": "on", **(environ or {})}
    build(load_settings({"out": out, "logs": (logs,), "now": NOW_ISO, "config": config}, environ=env, env_file=None))
    return out


def test_people_teams_and_apps_equal_an_independent_recount(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stubs = control_plane(monkeypatch)
    records = dataset()
    out = site(tmp_path, records)
    for s in stubs:
        s.assert_no_pending_responses()
    doc = json.loads((out / "data/usage-30d.json").read_text())
    expected = recount(records, NOW.replace(minute=0) - timedelta(days=30))
    assert {u["name"]: u["cost_usd"] for u in doc["users"]} == {k: usd(v) for k, v in expected["person"].items()}
    assert {t["team"]: t["cost_usd"] for t in doc["teams"]} == {k: usd(v) for k, v in expected["team"].items()}
    apps = {t["value"]: t["cost_usd"] for t in doc["tags"]["application_name"]}
    assert apps == {k: usd(v) for k, v in expected["app"].items()}
    assert len([u for u in doc["users"] if u["name"].startswith("u")]) == 50
    assert doc["totals"]["cost_complete"] and not doc["unpriced_models"]  # every profile call priced
    profiles_seen = {t["value"] for t in doc["tags"]["inference_profile"]}
    assert profiles_seen == {"", "research-agent", "data-pipeline"}
    u00 = next(u for u in doc["users"] if u["name"] == "u00")
    assert [v["name"] for v in u00["via"]] == ["chat-gateway"] and doc["schema_version"] == 7
    person = json.loads((out / "data/person" / next(p.name for p in (out / "data/person").iterdir()
                                                    if p.name.startswith("u00"))).read_text())  # fmt: skip
    assert person["via"][0]["name"] == "chat-gateway" and "application_name" in person["tags"]
    csv_head = (out / "data/usage-30d.csv").read_text().splitlines()[0]
    assert csv_head.endswith(",price_source,team,via,tag_application_name,tag_inference_profile")
    assert "free_text" not in (out / "data/usage-30d.csv").read_text() + json.dumps(doc)  # unnamed keys never kept


def test_the_control_plane_answers_once_a_day_from_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stubs = control_plane(monkeypatch)
    store = open_store(str(tmp_path / "state"))
    client = build_module.aws.client
    principals = [f"arn:aws:iam::{ACCOUNT}:user/{OWNED_KEY}", f"arn:aws:iam::{ACCOUNT}:user/{BARE_KEY}"]
    first = profiles.lookup([RESEARCH, DATA, NOVA], principals, lambda s, r: client(s), store, NOW)
    assert first.calls == 5 and first.profiles[RESEARCH].tags["team"] == "research"
    assert first.owners == {OWNED_KEY: "zoe"} and not first.problems
    for s in stubs:
        s.assert_no_pending_responses()
    again = profiles.lookup([RESEARCH, DATA], principals, lambda s, r: client(s), store, NOW + timedelta(hours=5))
    assert again.calls == 0 and again.profiles == first.profiles and again.owners == first.owners
    stubs[0].add_response("list_inference_profiles", {"inferenceProfileSummaries": []}, {"typeEquals": "APPLICATION"})
    stubs[0].add_client_error("get_inference_profile", "ResourceNotFoundException", "gone", 404)
    later = profiles.lookup([RESEARCH], [], lambda s, r: client(s), store, NOW + timedelta(days=1, hours=1))
    assert later.calls == 2 and not later.profiles and "deleted" in later.problems[0]  # a day on: read again


@pytest.mark.parametrize(
    ("case", "expect"),
    [("denied", "may not bedrock:ListInferenceProfiles"), ("foreign", "may not bedrock:GetInferenceProfile"),
     ("deleted", "it was deleted")],
)  # fmt: skip
def test_an_unresolved_profile_is_one_line_and_unpriced_never_zero(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], case: str, expect: str
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    bedrock = boto3.client("bedrock", region_name="us-east-1")
    stub = Stubber(bedrock)
    arn = {"denied": RESEARCH, "foreign": FOREIGN, "deleted": DELETED}[case]
    if case == "denied":
        stub.add_client_error("list_inference_profiles", "AccessDeniedException", "no", 403)
    else:
        stub.add_response("list_inference_profiles", {"inferenceProfileSummaries": []}, {"typeEquals": "APPLICATION"})
        code = "AccessDeniedException" if case == "foreign" else "ResourceNotFoundException"
        stub.add_client_error("get_inference_profile", code, "no", 403 if case == "foreign" else 404)
    stub.activate()
    monkeypatch.setattr(build_module.aws, "client", lambda service, **kw: bedrock)
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.jsonl").write_text(json.dumps(rec(f"arn:aws:iam::{ACCOUNT}:user/ann", NOW - timedelta(hours=3), arn)))
    result = CliRunner().invoke(cli, ["build", "--logs", str(logs), "--out", str(tmp_path / "site"), "--now", NOW_ISO],
                                env={"CONTROL_PLANE": "on"})  # fmt: skip
    assert result.exit_code == 0, result.output
    assert expect in result.output and "[inference_profiles]" in result.output
    doc = json.loads((tmp_path / "site/data/usage-7d.json").read_text())
    assert doc["totals"]["cost_complete"] is False and doc["totals"]["unpriced_invocations"] == 1
    assert doc["unpriced_models"][0]["model"] == arn


def test_api_keys_show_as_keys_or_their_owner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    control_plane(monkeypatch, list_error="AccessDeniedException")
    records = [rec(f"arn:aws:iam::{ACCOUNT}:user/{k}", NOW - timedelta(hours=2)) for k in (OWNED_KEY, BARE_KEY)]
    out = site(tmp_path, records)
    names = {u["name"] for u in json.loads((out / "data/usage-1d.json").read_text())["users"]}
    assert names == {"zoe", "API key xyz789"}


def test_api_key_owners_unread_say_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    control_plane(monkeypatch, list_error="AccessDeniedException", iam_error="AccessDenied")
    records = [rec(f"arn:aws:iam::{ACCOUNT}:user/{OWNED_KEY}", NOW - timedelta(hours=2))]
    runner_out = site(tmp_path, records)
    assert {u["name"] for u in json.loads((runner_out / "data/usage-1d.json").read_text())["users"]} == {
        "API key abc123"
    }


def test_a_metadata_person_merges_with_an_iam_person_only_through_aliases() -> None:
    rules = Attribution(person_key="user_id")
    plain = Attributor(rules, lambda p: "", {}, {}, iam_people={"ann"})
    assert plain("gw", '{"user_id":"ann"}', NOVA).person == "ann (user_id)"
    assert plain("gw", '{"user_id":"bea"}', NOVA).person == "bea"
    merged = Attributor(rules, lambda p: "", {}, {"user_id:ann": "ann"}, iam_people={"ann"})
    caller = merged("gw", '{"user_id":"ann"}', NOVA)
    assert (caller.person, caller.via) == ("ann", "gw")
    assert merged("ann", "", NOVA).via == ""  # without metadata, the principal's person as before


def test_hostile_metadata_is_bounded_escaped_or_a_counted_skip(tmp_path: Path) -> None:
    when = NOW - timedelta(hours=2)
    records = [
        rec("arn:aws:iam::1:user/a", when, meta={f"k{i}": "v" for i in range(10_000)}),
        rec("arn:aws:iam::1:user/a", when, meta={"user_id": "x" * 300}),
        rec("arn:aws:iam::1:user/a", when, meta={"user_id": 5}),  # type: ignore[dict-item]
        rec("arn:aws:iam::1:user/a", when, meta={"user_id": "bell\x07\x1b[31m\u202eevil\nline"}),
    ]
    (tmp_path / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    result = read_files([tmp_path], meta_keys=("user_id",))
    assert dict(result.skipped.counts) == {"bad_request_metadata": 3} and result.records == 1
    assert result.rows[0].meta == '{"user_id":"bell\\\\x07\\\\x1b[31m\\\\u202eevil\\\\nline"}'
    assert MetaText(("a",))({"a": "y" * 1000}) == json.dumps({"a": "y" * 256}, separators=(",", ":"))


@pytest.mark.parametrize(
    ("table", "overrides", "problem"),
    [({"person_key": "has\"quote"}, {}, "is not a metadata key"), ({"colour": "x"}, {}, "unknown key(s) colour"),
     ({"tags": "x"}, {}, ""), ({"tags": [1]}, {}, "tags must be a list"),
     ({}, {"tags": ",".join("abcdefghi")}, "at most 8")],
)  # fmt: skip
def test_attribution_settings_are_checked(table: dict[str, Any], overrides: dict[str, Any], problem: str) -> None:
    if not problem:
        assert parse_attribution(table, overrides).tags == ("x",)
        return
    with pytest.raises(ValueError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        parse_attribution(table, overrides)


def test_environment_and_cli_set_attribution_over_the_config(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[attribution]\nperson_key = "user_id"\ntags = ["app"]\n')
    env = {"TEAM_KEY": "team", "TAGS": "app,env"}
    settings = load_settings({"config": config, "source": "demo", "person_key": "who"}, environ=env, env_file=None)
    assert settings.attribution == Attribution("who", "team", ("app", "env"))
    assert settings.attribution.meta_keys == ("app", "env", "team", "who")
    bad = CliRunner().invoke(cli, ["build", "--source", "demo", "--person-key", 'a"b', "--out", str(tmp_path / "s")])
    assert bad.exit_code == 2 and "is not a metadata key" in bad.output and len(bad.output.strip().splitlines()) == 1


def test_the_stack_grants_exactly_the_control_plane_reads() -> None:
    from generator.deploy import build_template
    from tests.test_template import GROUPS

    role = build_template(GROUPS)["Resources"]["PublishRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    found = {s["Sid"]: (s["Action"], s["Resource"]) for s in role["Statement"] if isinstance(s, dict) and "Sid" in s}
    sub = "Fn::Sub"
    assert found["ListApplicationInferenceProfiles"] == ("bedrock:ListInferenceProfiles", "*")
    assert found["DescribeApplicationInferenceProfiles"] == (
        ["bedrock:GetInferenceProfile", "bedrock:ListTagsForResource"],
        {sub: "arn:${AWS::Partition}:bedrock:*:${AWS::AccountId}:application-inference-profile/*"},
    )
    assert found["NameBedrockApiKeyOwners"] == (
        "iam:ListUserTags",
        {sub: "arn:${AWS::Partition}:iam::${AWS::AccountId}:user/BedrockAPIKey-*"},
    )


def test_the_longest_metadata_a_row_can_keep_is_a_valid_row() -> None:
    """Every key a config may name, each value 256 characters that escape to the longest form: the store must take
    the row back (a row it refused would send its day to be read again on every run)."""
    keys = tuple(sorted(["person", "team", *(f"tag{i}" + "k" * 250 for i in range(8))]))
    text = MetaText(keys)({k: "\u202e" * 300 for k in keys})
    assert len(text) > 8192 and valid_counts(row_of(0, "a", NOVA, [1, 0, 0, 0, 0, 0], meta=text))
    assert not valid_counts(row_of(0, "a", NOVA, [1, 0, 0, 0, 0, 0], meta="x" * (len(text) * 2)))


def test_a_profile_the_config_names_by_id_is_the_configs_not_the_control_planes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    told = profiles.Lookup({RESEARCH: Profile(RESEARCH, "research-agent", NOVA, {"team": "research"})})
    monkeypatch.setattr(build_module, "_control_plane", lambda settings, rows, now: told)
    config = tmp_path / "c.toml"
    config.write_text(CONFIG + '\n[inference_profiles]\nres0001 = { model = "amazon.nova-pro-v1:0", name = "cfg", '
                      'tags = { team = "config-team" } }\n')  # fmt: skip
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.jsonl").write_text(
        json.dumps(rec(f"arn:aws:iam::{ACCOUNT}:user/ann", NOW - timedelta(hours=3), RESEARCH))
    )
    out = tmp_path / "site"
    build(load_settings({"out": out, "logs": (logs,), "now": NOW_ISO, "config": config}, environ={}, env_file=None))
    doc = json.loads((out / "data/usage-1d.json").read_text())
    assert [t["team"] for t in doc["teams"]] == ["config-team"] and doc["models"][0]["model"] == "amazon.nova-pro-v1:0"
    assert [t["value"] for t in doc["tags"]["inference_profile"]] == ["cfg"]
