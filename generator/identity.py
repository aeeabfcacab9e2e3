"""Who is the person behind an IAM principal ARN.

Owns the ARN rules, prefix stripping, aliases and the identity audit. Pure: takes rules as data,
never reads config files or the environment.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

API_KEY_PREFIX = "BedrockAPIKey-"
_ARN = re.compile(r"^arn:aws[a-z-]*:(?P<service>iam|sts)::(?P<account>\d*):(?P<resource>.+)$")


@dataclass(frozen=True)
class IdentityRules:
    """How principals become people."""

    session_roles: frozenset[str] = frozenset()
    strip_prefixes: tuple[str, ...] = ("bedrock-",)
    aliases: Mapping[str, str] = field(default_factory=dict)  # alias -> person
    key_owners: Mapping[str, str] = field(default_factory=dict)  # BedrockAPIKey-... IAM user -> its owner tag


@dataclass(frozen=True)
class IdentityAudit:
    """One raw principal, the rule that applied and the person it became."""

    principal: str
    person: str
    rule: str

    @property
    def caller_chosen(self) -> bool:
        """The name is a session name under a `session_roles` role: whoever assumes the role picks it."""
        return self.rule.startswith("session-role")


def caller_named(audits: Iterable[IdentityAudit]) -> frozenset[str]:
    """People whose every principal is a caller-chosen session name: nothing vouches for who they are."""
    vouched = {a.person for a in audits if not a.caller_chosen}
    return frozenset(a.person for a in audits if a.caller_chosen and a.person not in vouched)


def parse_aliases(table: Mapping[str, object]) -> dict[str, str]:
    """Turn `{person: [alias, ...]}` into `{alias: person}`; raise ValueError on any ambiguity."""
    mapping: dict[str, str] = {}
    for person, aliases in table.items():
        if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
            raise ValueError(f"aliases.{person} must be a list of names")
        for alias in aliases:
            if alias == person:
                raise ValueError(f"aliases.{person} lists the person itself")
            if alias in table:
                raise ValueError(
                    f"alias {alias!r} of {person!r} is itself a person with aliases "
                    "(aliases must point at a final name)"
                )
            if alias in mapping:
                raise ValueError(f"{alias!r} is mapped twice: to {mapping[alias]!r} and {person!r}")
            mapping[alias] = person
    return mapping


def name_of(principal: str, rules: IdentityRules) -> tuple[str, str]:
    """Return the name an ARN carries and the rule that found it, before prefixes and aliases."""
    match = _ARN.match(principal)
    if not match:
        return principal, "unrecognised"
    resource = match["resource"]
    kind, _, rest = resource.partition("/")
    if kind == "root" and not rest:
        return "root", "root"
    if kind == "user" and rest:
        return rest.rsplit("/", 1)[-1], "iam-user"
    if kind == "federated-user" and rest:
        return rest, "federated-user"
    if kind == "assumed-role" and "/" in rest:
        role, session = rest.split("/", 1)
        if role.startswith("AWSReservedSSO_"):
            return session, "sso-session"
        if role in rules.session_roles:
            return session, "session-role"
        return role, "assumed-role"
    return principal, "unrecognised"


def person_of(principal: str, rules: IdentityRules) -> IdentityAudit:
    """Resolve one principal to a person, with the audit trail."""
    name, rule = name_of(principal, rules)
    if rule == "iam-user" and name.startswith(API_KEY_PREFIX) and name not in rules.aliases:
        # a long-term Bedrock API key: its IAM user is named for the key, not for whoever holds it
        owner = rules.key_owners.get(name, "")
        name, rule = (owner, "api-key, owner tag") if owner else (f"API key {name[len(API_KEY_PREFIX) :]}", "api-key")
        if name in rules.aliases:
            name, rule = rules.aliases[name], rule + f", alias {name}"
        return IdentityAudit(principal, name, rule)
    for prefix in rules.strip_prefixes:
        if prefix and name.startswith(prefix) and len(name) > len(prefix):
            name = name[len(prefix) :]
            rule += f", strip {prefix}"
            break
    if name in rules.aliases:
        name, rule = rules.aliases[name], rule + f", alias {name}"
    return IdentityAudit(principal, name, rule)


def resolve(principals: Iterable[str], rules: IdentityRules) -> dict[str, IdentityAudit]:
    """Resolve every principal once."""
    return {p: person_of(p, rules) for p in sorted(set(principals))}
