"""Parse a Bedrock `modelId` as logged into the model it names and the route it took.

The caller may log a base id, a system inference-profile id with a route prefix, or an ARN.
Pure: application-inference-profile mappings are passed in, never read here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

IN_REGION, GEO, GLOBAL, UNKNOWN = "in-region", "geo", "global", "unknown"
ROUTES = (IN_REGION, GEO, GLOBAL)
GEO_PREFIXES = ("us", "eu", "apac", "jp", "au", "us-gov", "ca")
_ARN = re.compile(r"^arn:aws[a-z-]*:bedrock:[^:]*:[^:]*:(?P<kind>[a-z-]+)/(?P<id>.+)$")
_VARIANT = re.compile(r"^(?P<id>.+?)\[(?P<variant>[a-z0-9]{1,8})\]$")  # `anthropic.claude-sonnet-4-6[1m]`: 1M context
_VERSION = re.compile(r"(-\d{8})?(-v\d+)?(:\d+)?(:\d+[km])?$")
_CLAUDE = re.compile(
    r"^anthropic\.claude-(?:(?P<family>haiku|sonnet|opus|fable|mythos)-(?P<major>\d+)"
    r"(?:-(?P<minor>\d)(?!\d))?|(?P<old_major>\d)(?:-(?P<old_minor>\d))?-(?P<old_family>haiku|sonnet|opus))(?:-|$)"
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


def parse_model_id(logged: str, profiles: Mapping[str, str] | None = None) -> ModelRef:
    """Parse a logged model id; `profiles` maps application-inference-profile ARNs or ids to models."""
    match = _ARN.match(logged)
    model_id = logged
    if match:
        kind, ident = match["kind"], match["id"]
        if kind == "application-inference-profile":
            target = (profiles or {}).get(logged) or (profiles or {}).get(ident)
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


def version_free(model: str) -> str:
    """Drop the date, version and context suffixes: `anthropic.claude-opus-4-6-v1:0` -> `anthropic.claude-opus-4-6`."""
    return _VERSION.sub("", model, count=1)


def claude_generation(model: str) -> tuple[str, tuple[int, int]] | None:
    """Return a Claude model's family and generation (`opus`, (4, 7)), or None for any other id."""
    found = _CLAUDE.match(model)
    if found is None:
        return None
    if found["family"]:
        return found["family"], (int(found["major"]), int(found["minor"] or 0))
    return found["old_family"], (int(found["old_major"]), int(found["old_minor"] or 0))
