"""Teams: which team each person is in, from the config's `[teams]` table or derived from the principal.

Owns the rule: a person named in `[teams]` is in that team; otherwise, with `team_from`, the IAM
Identity Center permission set (`AWSReservedSSO_<set>_<hex>`) or the first IAM path segment
(`user/<path>/name`) names the team; otherwise the person is in no team (""). Pure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

TEAM_FROM = ("", "permission-set", "iam-path")
_SSO = re.compile(r":assumed-role/AWSReservedSSO_(.+)_[0-9a-f]{16}/")
_PATH = re.compile(r":(?:user|role)/([^/]+)/[^/]+$")


@dataclass(frozen=True)
class TeamRules:
    """The `[teams]` table (person -> team) and how to name the others' teams."""

    members: Mapping[str, str] = field(default_factory=dict)
    team_from: str = ""

    def __bool__(self) -> bool:
        return bool(self.members or self.team_from)

    def team_of(self, person: str, principals: Iterable[str] = ()) -> str:
        """The person's team ("" for none): the table first, then the rule over their principals."""
        if person in self.members:
            return self.members[person]
        pattern = {"permission-set": _SSO, "iam-path": _PATH}.get(self.team_from)
        for principal in sorted(principals) if pattern else ():
            found = pattern.search(principal) if pattern else None
            if found:
                return found.group(1)
        return ""


def parse_teams(table: Mapping[str, Any], team_from: Any) -> TeamRules:
    """Check `[teams]` (team = [people]) and `team_from`; ValueError says what is wrong."""
    if team_from not in TEAM_FROM:
        raise ValueError(f"team_from must be one of {', '.join(repr(t) for t in TEAM_FROM if t)}, not {team_from!r}")
    members: dict[str, str] = {}
    for team, people in table.items():
        if not team.strip() or len(team) > 128:
            raise ValueError(f"teams: {team!r} is not a team name (1 to 128 characters)")
        if not isinstance(people, list) or not all(isinstance(p, str) and p for p in people):
            raise ValueError(f'teams.{team} must be a list of people, such as ["alice", "bob"]')
        for person in people:
            if person in members and members[person] != team:
                raise ValueError(f"teams: {person!r} is in both {members[person]!r} and {team!r}")
            members[person] = team
    return TeamRules(members, str(team_from))


def teams_of(people: Mapping[str, Iterable[str]], rules: TeamRules) -> dict[str, str]:
    """Each person's team, given each person's principals."""
    return {person: rules.team_of(person, principals) for person, principals in people.items()}
