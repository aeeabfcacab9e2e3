"""Monthly budgets: the config's `[budgets]`, where each stands by actual spend and by forecast, and
which thresholds a month has crossed.

Owns the thresholds (near at 80%, over at 100%), the status of each budget, and the crossings a run
should announce (each budget, threshold and basis once per month). Pure: the notifier sends them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

NEAR = Decimal("0.8")
LEVELS = (("over", Decimal(1)), ("near", NEAR))  # highest first
_RANK = {"ok": 0, "near": 1, "over": 2}
_WORDS = {"ok": "within budget", "near": "near budget", "over": "over budget"}


@dataclass(frozen=True)
class Budgets:
    """USD a calendar month: for everyone together, per team, per person."""

    total: Decimal | None = None
    teams: Mapping[str, Decimal] = field(default_factory=dict)
    people: Mapping[str, Decimal] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.total is not None or self.teams or self.people)

    def items(self) -> list[tuple[str, str, Decimal]]:
        """(scope, name, amount) for every budget: the total, then teams, then people, by name."""
        found = [("total", "", self.total)] if self.total is not None else []
        found += [("team", n, a) for n, a in sorted(self.teams.items())]
        found += [("person", n, a) for n, a in sorted(self.people.items())]
        return found


@dataclass(frozen=True)
class Status:
    """One budget this month: spent so far, the month-end forecast, and their levels (ok, near, over)."""

    scope: str  # total | team | person
    name: str
    budget: Decimal
    actual: Decimal
    forecast: Decimal | None
    complete: bool  # False when unpriced usage makes `actual` a lower bound

    @property
    def level(self) -> str:
        return level(self.actual, self.budget)

    @property
    def forecast_level(self) -> str:
        return level(self.forecast, self.budget) if self.forecast is not None else "ok"

    @property
    def label(self) -> str:
        return "everyone" if self.scope == "total" else f"{self.scope} {self.name}"

    @property
    def status(self) -> str:
        """The one phrase every page and the JSON give this budget: `within budget`, `near budget`, `over budget`,
        and `, forecast near` or `, forecast over` when the forecast is worse than the spend so far."""
        return status_text(self.level, self.forecast_level)

    @property
    def severity(self) -> str:
        """The worse of the two levels: what a page colours the status by."""
        return max(self.level, self.forecast_level, key=_RANK.__getitem__)


def level(amount: Decimal, budget: Decimal) -> str:
    """ok, near (at least 80% of the budget) or over (at least all of it)."""
    return next((name for name, share in LEVELS if amount >= budget * share), "ok")


def status_text(spent: str, forecast: str) -> str:
    """A budget's status from the level of its spend so far and of its forecast (see `Status.status`)."""
    words = _WORDS[spent]
    return f"{words}, forecast {forecast}" if _RANK[forecast] > _RANK[spent] else words


def parse_budgets(table: Mapping[str, Any]) -> Budgets:
    """Check `[budgets]`: `total = 2000`, `[budgets.teams]`, `[budgets.people]`; ValueError says what is wrong."""
    unknown = sorted(set(table) - {"total", "teams", "people"})
    if unknown:
        raise ValueError(f"budgets: unknown key(s) {', '.join(unknown)} (use total, teams, people)")

    def amount(where: str, raw: Any) -> Decimal:
        try:
            value = Decimal(str(raw)) if isinstance(raw, int | float) and not isinstance(raw, bool) else None
        except InvalidOperation:
            value = None
        if value is None or not value.is_finite() or value <= 0 or value > 10**9:
            raise ValueError(f"{where} must be a positive amount of US dollars a month, not {raw!r}")
        return value

    def named(key: str) -> dict[str, Decimal]:
        found = table.get(key, {})
        if not isinstance(found, dict):
            raise ValueError(f"budgets.{key} must be a table of name = dollars a month")
        return {name: amount(f"budgets.{key}.{name}", v) for name, v in found.items()}

    total = amount("budgets.total", table["total"]) if "total" in table else None
    return Budgets(total, named("teams"), named("people"))


def statuses(
    budgets: Budgets,
    actual: Mapping[tuple[str, str], tuple[Decimal, bool]],
    forecast: Mapping[tuple[str, str], Decimal],
) -> list[Status]:
    """Each budget with this month's spend ((scope, name) -> (cost, complete)) and forecast."""
    out = []
    for scope, name, amount in budgets.items():
        spent, complete = actual.get((scope, name), (Decimal(0), True))
        out.append(Status(scope, name, amount, spent, forecast.get((scope, name)), complete))
    return out


def crossings(found: Iterable[Status]) -> list[tuple[str, Status]]:
    """Every (event key, status) at or past a threshold: `person alice|actual|over`, `total|forecast|near`..."""
    events = []
    for s in found:
        for basis, value in (("actual", s.level), ("forecast", s.forecast_level)):
            for name, _ in LEVELS:
                reached = value == "over" or (value == "near" and name == "near")
                if reached:
                    events.append((f"{s.scope} {s.name}|{basis}|{name}", s))
    return events
