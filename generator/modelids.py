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


@dataclass(frozen=True)
class ModelRef:
    """What a logged model id means: the base model, the route and the route prefix."""

    logged: str
    model: str  # base model id without ARN and route prefix, or the unmapped profile id
    route: str  # in-region | geo | global | unknown (an unmapped application profile)
    prefix: str = ""  # us, eu, global, ... ("" for in-region)


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
            return ModelRef(logged, f"{kind}/{ident}", UNKNOWN)
    model, route, prefix = split_route(model_id)
    return ModelRef(logged, model, route, prefix)
