"""Who really made a call: request metadata, application inference profiles and Bedrock API keys.

Owns the `[attribution]` settings, the one text a row keeps of a call's request metadata (only the keys the
settings name), and the order of precedence that turns a row into its person, the principal it came "via",
its team and its tag values:
- person: the metadata `person_key` value, else the principal's person (identity rules); aliases apply to both;
- team: the metadata `team_key` value, then the profile's `profile_tag_team` tag, then `[teams]`/`team_from`;
- tag k: the metadata value of k, then the profile's tag k.
Pure: profiles and key owners come in as data (see `generator.profiles`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from generator.errors import printable
from generator.modelids import profile_entry

MAX_KEY = MAX_VALUE = 256  # characters: Bedrock refuses longer request-metadata keys and values
MAX_PAIRS = 64  # pairs in one record's metadata (Bedrock takes 16): more is a forgery, a counted skip
PROFILE_DIMENSION = "inference_profile"  # the breakdown by application inference profile name
MAX_TAGS = 8  # tag keys a site breaks spend down by
# The longest text a row can keep (`MetaText`): person, team and tag keys, each value escaped (a character as
# `\u202e`, its backslash doubled in JSON: 7 characters), with quotes, colon and comma around each pair.
MAX_TEXT = 2 + (MAX_TAGS + 2) * (6 + MAX_KEY + 7 * MAX_VALUE)
_KEY = re.compile(r"[A-Za-z0-9_:@$#=/+,.\- ]{1,256}")  # Bedrock's metadata key characters
API_KEY_USER = re.compile(r"^arn:aws[a-z-]*:iam::\d*:user/(?:.*/)?(BedrockAPIKey-[A-Za-z0-9_+=,.@-]+)$")


@dataclass(frozen=True)
class Attribution:
    """The `[attribution]` settings: which request-metadata keys name the person, the team and the tags."""

    person_key: str = ""
    team_key: str = ""
    tags: tuple[str, ...] = ()
    profile_tag_team: str = "team"  # the application inference profile tag that names a team
    api_key_owner_tag: str = "owner"  # the IAM user tag that names a Bedrock API key's owner

    def dimensions(self) -> tuple[str, ...]:
        """The names of the breakdowns a site shows beside people, models and teams: each tag key, then the
        application inference profile the calls went through."""
        return (*self.tags, PROFILE_DIMENSION)

    @property
    def meta_keys(self) -> tuple[str, ...]:
        """Every metadata key a source keeps, sorted (the rows and the store hold nothing else)."""
        return tuple(sorted({k for k in (self.person_key, self.team_key, *self.tags) if k}))


def parse_attribution(table: Mapping[str, Any], overrides: Mapping[str, Any]) -> Attribution:
    """The `[attribution]` table with the environment's and CLI's values over it; ValueError says what is wrong."""
    known = {"person_key", "team_key", "tags", "profile_tag_team", "api_key_owner_tag"}
    unknown = sorted(set(table) - known)
    if unknown:
        raise ValueError(f"attribution: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    values = {**table, **{k: v for k, v in overrides.items() if v not in (None, "", ())}}
    for name in known - {"tags"}:
        value = values.get(name, "")
        if not isinstance(value, str) or (value and not _KEY.fullmatch(value)):
            raise ValueError(f"attribution.{name}: {str(value)[:60]!r} is not a metadata key (1 to 256 letters, "
                             "digits, spaces and : _ @ $ # = / + , . -)")  # fmt: skip
    tags = values.get("tags", [])
    if isinstance(tags, str):
        tags = tags.replace(",", " ").split()
    if not isinstance(tags, list | tuple) or not all(isinstance(t, str) and _KEY.fullmatch(t) for t in tags):
        raise ValueError('attribution.tags must be a list of metadata keys, such as ["application_name"]')
    if len(tags) > MAX_TAGS:
        raise ValueError(f"attribution.tags: at most {MAX_TAGS} keys, not {len(tags)}")
    return Attribution(
        str(values.get("person_key", "")), str(values.get("team_key", "")), tuple(dict.fromkeys(tags)),
        str(values.get("profile_tag_team", "team")), str(values.get("api_key_owner_tag", "owner")),
    )  # fmt: skip


def clean(value: str) -> str:
    """A metadata value or profile tag as a name: its first MAX_VALUE characters, with control and
    direction-override characters escaped (never HTML: pages escape)."""
    return printable(value[:MAX_VALUE]).replace("\n", "\\n").replace("\t", "\\t")


class MetaText:
    """The one text a row keeps of a call's request metadata: the kept keys' values as a sorted JSON object
    ("" when the call carries none of them). Texts are made once per distinct set of values."""

    def __init__(self, keys: tuple[str, ...]) -> None:
        self.keys = keys
        self._made: dict[tuple[str | None, ...], str] = {}

    def __call__(self, found: Mapping[str, str] | None) -> str:
        if not found or not self.keys:
            return ""
        values = tuple(found.get(k) for k in self.keys)
        text = self._made.get(values)
        if text is None:
            kept = {k: clean(v) for k, v in zip(self.keys, values, strict=True) if isinstance(v, str)}
            text = self._made[values] = json.dumps(kept, separators=(",", ":"), ensure_ascii=False) if kept else ""
        return text


def read_meta(text: str) -> dict[str, str]:
    """The pairs of a row's metadata text ({} for "" or a damaged text)."""
    if not text:
        return {}
    try:
        found = json.loads(text)
    except ValueError:
        return {}
    return {k: v for k, v in found.items() if isinstance(v, str)} if isinstance(found, dict) else {}


def api_key_id(principal: str) -> str:
    """The `BedrockAPIKey-...` user name of a long-term Bedrock API key's principal, or ""."""
    found = API_KEY_USER.match(principal)
    return found.group(1) if found else ""


@dataclass(frozen=True)
class Profile:
    """An application inference profile as the control plane describes it."""

    arn: str
    name: str
    model: str  # the model id (or system profile id) it calls: priced as that
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Caller:
    """Who a row's calls are attributed to."""

    person: str
    via: str  # the principal's person when metadata named the person ("" otherwise)
    team: str
    # one value per breakdown of `Attribution.dimensions()` ("" where the call says nothing): each tags key, then the
    # application inference profile's name
    dims: tuple[str, ...]


class Attributor:
    """Resolve rows to callers, once per distinct (principal's person, metadata text, model id)."""

    def __init__(
        self,
        rules: Attribution,
        team_of: Callable[[str], str],
        profiles: Mapping[str, Profile],
        aliases: Mapping[str, str],
        iam_people: Collection[str] = (),
    ) -> None:
        self.rules, self.team_of, self.profiles, self.aliases = rules, team_of, profiles, aliases
        self.iam_people = frozenset(iam_people)  # people named by principals: metadata may not claim their names
        self._made: dict[tuple[str, str, str], Caller] = {}

    def __call__(self, principal_person: str, meta: str, model_id: str) -> Caller:
        key = (principal_person, meta, model_id)
        found = self._made.get(key)
        if found is None:
            profile = profile_entry(self.profiles, model_id)
            found = self._made[key] = self._resolve(principal_person, read_meta(meta), profile)
        return found

    def _person(self, named: str) -> str:
        """The person a metadata value names: through `aliases` (by `<person_key>:<value>` or the value), else the
        value itself, set apart as `<value> (<person_key>)` where a principal's person has that name: a caller's
        metadata never adds to an IAM person's spend unless the aliases say it is them."""
        key = self.rules.person_key
        for alias in (f"{key}:{named}", named):
            if alias in self.aliases:
                return self.aliases[alias]
        return f"{named} ({key})" if named in self.iam_people else named

    def _resolve(self, principal_person: str, meta: Mapping[str, str], profile: Profile | None) -> Caller:
        rules = self.rules
        named = meta.get(rules.person_key, "") if rules.person_key else ""
        person = self._person(named) if named else principal_person
        via = principal_person if named and person != principal_person else ""
        tags = profile.tags if profile else {}
        team = (
            (meta.get(rules.team_key, "") if rules.team_key else "")
            or (clean(tags.get(rules.profile_tag_team, "")) if rules.profile_tag_team else "")
            or self.team_of(person)
        )
        values = tuple(meta.get(k) or clean(tags.get(k, "")) for k in rules.tags)
        return Caller(person, via, team, (*values, profile.name if profile else ""))
