"""Parse a Bedrock `modelId` as logged into the model it names and the route it took.

The caller may log a base id, a system inference-profile id with a route prefix, or an ARN.
Pure: application-inference-profile mappings are passed in, never read here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")
IN_REGION, GEO, GLOBAL, UNKNOWN = "in-region", "geo", "global", "unknown"
ROUTES = (IN_REGION, GEO, GLOBAL)
GEO_PREFIXES = ("us", "eu", "apac", "jp", "au", "us-gov", "ca", "in")
_ARN = re.compile(r"^arn:aws[a-z-]*:bedrock:[^:]*:[^:]*:(?P<kind>[a-z-]+)/(?P<id>.+)$")
_VARIANT = re.compile(r"^(?P<id>.+?)\[(?P<variant>[a-z0-9]{1,8})\]$")  # `anthropic.claude-sonnet-4-6[1m]`: 1M context
# a date may follow `@`, as in `anthropic.claude-haiku-4-5@20251001` (the Vertex AI form some clients log)
_VERSION = re.compile(r"^(?P<base>.+?)(?P<date>[-@]\d{8})?(?P<version>-v\d+)?(?::\d+)?(?::\d+[km])?$")
_CLAUDE = re.compile(
    r"^anthropic\.claude-(?:(?P<family>haiku|sonnet|opus|fable|mythos)-(?P<major>\d+)"
    r"(?:-(?P<minor>\d)(?!\d))?|(?P<old_major>\d)(?:-(?P<old_minor>\d))?-(?P<old_family>haiku|sonnet|opus))(?:[-@]|$)"
)
# Billed per model unit per hour, never per token: no price book can cost these calls.
HOURLY_KINDS = {"provisioned-model", "custom-model", "imported-model", "custom-model-deployment"}


@dataclass(frozen=True)
class ModelRef:
    """What a logged model id means: the base model, the route and the route prefix."""

    logged: str
    model: str  # base model id without ARN and route prefix, or the unmapped profile id
    route: str  # in-region | geo | global | unknown (an unmapped application profile)
    prefix: str = ""  # us, eu, global, ... ("" for in-region)
    variant: str = ""  # a bracketed suffix such as `1m` (the 1M-context variant), priced as the base model
    hourly: bool = False  # a provisioned-throughput or custom-model ARN: billed per hour, not per token


def split_route(model_id: str) -> tuple[str, str, str]:
    """Split `us.anthropic.x` into (`anthropic.x`, `geo`, `us`)."""
    head, dot, rest = model_id.partition(".")
    if dot and "." in rest:
        if head == "global":
            return rest, GLOBAL, head
        if head in GEO_PREFIXES:
            return rest, GEO, head
    return model_id, IN_REGION, ""


def profile_entry(found: Mapping[str, T], logged: str) -> T | None:
    """An application inference profile's entry in a mapping keyed by its ARN or by its id (the config takes either)."""
    return found.get(logged) or found.get(logged.rsplit("/", 1)[-1])


def parse_model_id(logged: str, profiles: Mapping[str, str] | None = None) -> ModelRef:
    """Parse a logged model id; `profiles` maps application-inference-profile ARNs or ids to models."""
    match = _ARN.match(logged)
    model_id = logged
    if match:
        kind, ident = match["kind"], match["id"]
        if kind == "application-inference-profile":
            target = profile_entry(profiles or {}, logged)
            if target is None:
                return ModelRef(logged, f"{kind}/{ident}", UNKNOWN)
            model_id = target
        elif kind in ("inference-profile", "foundation-model"):
            model_id = ident
        else:
            return ModelRef(logged, f"{kind}/{ident}", UNKNOWN, hourly=kind in HOURLY_KINDS)
    variant = ""
    bracketed = _VARIANT.match(model_id)
    if bracketed:
        model_id, variant = bracketed["id"], bracketed["variant"]
    model, route, prefix = split_route(model_id)
    return ModelRef(logged, model, route, prefix, variant)


def version_parts(model: str) -> tuple[str, str, str]:
    """Split `anthropic.claude-opus-4-6-20250101-v1:0` into (`anthropic.claude-opus-4-6`, `-20250101`, `-v1`).

    The `:0` revision and `:200k` context suffixes are dropped: they name the same model at the same price.
    """
    found = _VERSION.match(model)
    assert found is not None  # `.+?` with all-optional suffixes matches any non-empty id
    return found["base"], "-" + found["date"][1:] if found["date"] else "", found["version"] or ""


def same_model(logged: str, known: str) -> bool:
    """Tell whether a logged id names a known id's model: same base; a date or version it gives must agree.

    `anthropic.claude-opus-4-7` and `anthropic.claude-opus-4-6-v1` name `...-4-7-v1:0` and `...-4-6-v1:0`; a `-v2`
    never names a `-v1` (it may be another model at another price).
    """
    (base, day, version), (k_base, k_day, k_version) = version_parts(logged), version_parts(known)
    return base == k_base and day in ("", k_day) and version in ("", k_version)


def claude_generation(model: str) -> tuple[str, tuple[int, int]] | None:
    """Return a Claude model's family and generation (`opus`, (4, 7)), or None for any other id."""
    found = _CLAUDE.match(model)
    if found is None:
        return None
    if found["family"]:
        return found["family"], (int(found["major"]), int(found["minor"] or 0))
    return found["old_family"], (int(found["old_major"]), int(found["old_minor"] or 0))
