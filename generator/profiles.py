"""What the control plane says about the callers in the logs: application inference profiles and Bedrock API keys.

Owns the reads, each at most once a day per region (or account) and cached in the state store like the Price
List: one `ListInferenceProfiles` (type APPLICATION) per region plus `ListTagsForResource` per profile the logs
name, `GetInferenceProfile` for a logged profile the list does not hold, and `iam:ListUserTags` per Bedrock API
key user. A read that fails leaves the usage it concerns unpriced or unnamed and says so in one line; it never
stops the build and never prices anything at $0.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from generator.attribution import Profile, api_key_id
from generator.aws import AWS_ERRORS, DENIED, error_code, reason
from generator.modelids import IN_REGION, split_route
from generator.state import Store

APP_PROFILE = re.compile(
    r"^arn:aws[a-z-]*:bedrock:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):application-inference-profile/[a-z0-9]+$"
)
_MODEL_ARN = re.compile(
    r"^arn:aws[a-z-]*:bedrock:(?P<region>[a-z0-9-]*):\d*:(?:foundation-model|inference-profile)/(?P<id>.+)$"
)
CACHE_SECONDS = 24 * 3600
FORMAT = 1
MAX_TAGS = 50  # tags on one resource (AWS allows 50)
OVERRIDE = "or map it in [inference_profiles] in the config"
_AREAS = {"us": "us", "ca": "us", "eu": "eu", "ap": "apac", "me": "apac", "sa": "us", "il": "eu", "af": "eu"}


@dataclass(frozen=True)
class Lookup:
    """Profiles by ARN, API key owners by IAM user name, and one line per read that failed."""

    profiles: dict[str, Profile] = field(default_factory=dict)
    owners: dict[str, str] = field(default_factory=dict)
    problems: tuple[str, ...] = ()
    calls: int = 0  # control-plane requests this run made (the rest came from the cache)


def target_model(model_arns: list[str]) -> str:
    """The model id a profile's `models[].modelArn` call: one region's model as itself; a profile copied from a
    cross-region system profile (the same model in several regions) as its geography's route (`us.`, `eu.` ...),
    or `global.` when its regions span geographies; "" when the ARNs name different models or none."""
    found = [m for m in map(_MODEL_ARN.match, model_arns) if m]
    models = {m["id"] for m in found}
    if len(models) != 1 or len(found) != len(model_arns):
        return ""
    model = models.pop()
    regions = {m["region"] for m in found}
    if split_route(model)[1] != IN_REGION or len(regions) == 1:
        return model  # already a routed system-profile id, or one region's model
    areas = {_AREAS.get(r.split("-", 1)[0], "global") for r in regions}
    return f"{areas.pop() if len(areas) == 1 else 'global'}.{model}"


def lookup(
    model_ids: Iterable[str],
    principals: Iterable[str],
    client: Callable[[str, str], Any],
    store: Store | None,
    now: datetime,
    owner_tag: str = "owner",
) -> Lookup:
    """Resolve every application inference profile in `model_ids` and the owner of every API key in `principals`.

    `client(service, region)` makes a client (`bedrock` per region, `iam` once)."""
    wanted: dict[str, list[str]] = {}
    for model_id in set(model_ids):
        found = APP_PROFILE.match(model_id)
        if found:
            wanted.setdefault(found["region"], []).append(model_id)
    keys = sorted({k for k in map(api_key_id, set(principals)) if k})
    profiles: dict[str, Profile] = {}
    problems: list[str] = []
    calls = 0
    for region, arns in sorted(wanted.items()):
        got, made, trouble = _region_profiles(region, sorted(arns), client, store, now)
        profiles.update(got)
        calls += made
        problems += trouble
    owners, made, trouble = _owners(keys, client, store, now, owner_tag) if keys else ({}, 0, [])
    return Lookup(profiles, owners, tuple(problems), calls + made)


def _region_profiles(
    region: str, arns: list[str], client: Callable[[str, str], Any], store: Store | None, now: datetime
) -> tuple[dict[str, Profile], int, list[str]]:
    """One region's logged profiles: from a day-old cache when it holds them all, else read again."""
    name = f"control-plane/inference-profiles-{region}.json"
    cached = _cached(store, name, now)
    if cached is not None and all(a in cached["profiles"] or a in cached["missing"] for a in arns):
        return _profiles_of(cached, arns), 0, _missing_lines(cached, arns)
    bedrock, calls = client("bedrock", region), 0
    listed: dict[str, dict[str, Any]] = {}
    missing: dict[str, str] = {}
    try:
        token = None
        while True:
            calls += 1
            page = bedrock.list_inference_profiles(typeEquals="APPLICATION", **({"nextToken": token} if token else {}))
            for p in page.get("inferenceProfileSummaries", []):
                listed[p["inferenceProfileArn"]] = p
            token = page.get("nextToken")
            if not token:
                break
    except AWS_ERRORS as exc:
        why = _why(exc, "bedrock:ListInferenceProfiles")
        return {}, calls, [f"application inference profiles in {region} are unpriced: {why}, {OVERRIDE}"]
    found: dict[str, dict[str, Any]] = {}
    for arn in arns:
        summary = listed.get(arn)
        if summary is None:  # another account's, or deleted: the list of ours does not hold it
            calls += 1
            try:
                summary = bedrock.get_inference_profile(inferenceProfileIdentifier=arn)
            except AWS_ERRORS as exc:
                code = error_code(exc)
                missing[arn] = ("it was deleted" if code == "ResourceNotFoundException"
                                else _why(exc, "bedrock:GetInferenceProfile"))  # fmt: skip
                continue
        tags: dict[str, str] = {}
        calls += 1
        try:
            answer = bedrock.list_tags_for_resource(resourceARN=arn)
            tags = {t["key"]: t["value"] for t in answer.get("tags", [])[:MAX_TAGS]}
        except AWS_ERRORS as exc:
            missing.setdefault(f"tags:{arn}", _why(exc, "bedrock:ListTagsForResource"))
        model = target_model([m.get("modelArn", "") for m in summary.get("models", [])])
        if not model:
            missing[arn] = "its models are not one model the price book can name"
            continue
        found[arn] = {"name": str(summary.get("inferenceProfileName", "")), "model": model, "tags": tags}
    doc = {"format": FORMAT, "fetched_at": now.timestamp(), "profiles": found, "missing": missing}
    if store is not None:
        store.write_blob(name, json.dumps(doc).encode())
    return _profiles_of(doc, arns), calls, _missing_lines(doc, arns)


def _profiles_of(doc: dict[str, Any], arns: list[str]) -> dict[str, Profile]:
    return {a: Profile(a, p["name"], p["model"], dict(p["tags"])) for a in arns if (p := doc["profiles"].get(a))}


def _missing_lines(doc: dict[str, Any], arns: list[str]) -> list[str]:
    lines = [f"application inference profile {a} is unpriced: {doc['missing'][a]}; {OVERRIDE}"
             for a in arns if a in doc["missing"]]  # fmt: skip
    lines += [f"the tags of {a} are not read: {doc['missing'][f'tags:{a}']}; its calls keep no team or tags from it"
              for a in arns if f"tags:{a}" in doc["missing"]]  # fmt: skip
    return lines


def _owners(
    keys: list[str], client: Callable[[str, str], Any], store: Store | None, now: datetime, owner_tag: str
) -> tuple[dict[str, str], int, list[str]]:
    """Each API key user's owner from its IAM tag `owner_tag` (cached a day); users without one keep no owner."""
    name = "control-plane/api-key-owners.json"
    cached = _cached(store, name, now)
    if cached is not None and cached.get("tag") == owner_tag and all(k in cached["owners"] for k in keys):
        return {k: v for k, v in cached["owners"].items() if k in keys and v}, 0, []
    iam, calls = client("iam", ""), 0
    owners: dict[str, str] = {}
    problems: list[str] = []
    for user in keys:
        calls += 1
        try:
            answer = iam.list_user_tags(UserName=user)
        except AWS_ERRORS as exc:
            problems.append(f"the owners of Bedrock API keys are not read ({_why(exc, 'iam:ListUserTags')}); "
                            "they show as 'API key <id>': name them in [aliases]")  # fmt: skip
            return {}, calls, problems
        owners[user] = next((t["Value"][:256] for t in answer.get("Tags", []) if t.get("Key") == owner_tag), "")
    if store is not None:
        doc = {"format": FORMAT, "fetched_at": now.timestamp(), "tag": owner_tag, "owners": owners}
        store.write_blob(name, json.dumps(doc).encode())
    return {k: v for k, v in owners.items() if v}, calls, problems


def _cached(store: Store | None, name: str, now: datetime) -> dict[str, Any] | None:
    raw = store.read_blob(name) if store is not None else None
    if raw is None:
        return None
    try:
        doc = json.loads(raw)
        fresh = 0 <= now.timestamp() - float(doc["fetched_at"]) < CACHE_SECONDS and doc["format"] == FORMAT
        for p in doc.get("profiles", {}).values():  # a damaged cache is read again, never trusted
            fresh = fresh and isinstance(p["name"], str) and isinstance(p["model"], str) and isinstance(p["tags"], dict)
        fresh = fresh and all(isinstance(v, str) for v in {**doc.get("missing", {}), **doc.get("owners", {})}.values())
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return doc if fresh else None


def _why(exc: BaseException, action: str) -> str:
    if error_code(exc) in DENIED or "AccessDenied" in error_code(exc):
        return f"the caller may not {action}"
    return reason(exc)
