"""What a stage could not use: counts per reason and the first few places (a skip report).

A low contract every stage shares: sources count skipped records and unread files with it, the
site shows it and the manifest carries it. Pure data; no I/O.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from generator.words import plural

MAX_EXAMPLES = 5


@dataclass(frozen=True)
class SkipReport:
    """What a source could not use: counts per reason and the first few places."""

    counts: tuple[tuple[str, int], ...] = ()
    examples: tuple[str, ...] = ()

    @property
    def total(self) -> int:
        return sum(n for _, n in self.counts)

    @property
    def reasons(self) -> str:
        """The counts by reason: `malformed_json 2, missing_field 1`."""
        return ", ".join(f"{reason} {n}" for reason, n in self.counts)

    def describe(self, noun: str, what: str) -> str:
        """Say how many and why: `3 records skipped (malformed_json 2, missing_field 1)`."""
        return f"{plural(self.total, noun)} {what}" + (f" ({self.reasons})" if self.counts else "")

    def as_dict(self) -> dict[str, object]:
        return {"total": self.total, "by_reason": dict(self.counts), "examples": list(self.examples)}


@dataclass
class SkipTally:
    """Mutable collector behind a `SkipReport`."""

    counts: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)

    def skip(self, reason: str, where: str, detail: str = "") -> None:
        """Count one skipped record or file and remember the first few places."""
        self.counts[reason] += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(f"{where}: {reason}" + (f" ({detail})" if detail else ""))

    def merge(self, other: SkipTally) -> None:
        """Add another tally, keeping the first examples in order."""
        self.counts.update(other.counts)
        self.examples = (self.examples + other.examples)[:MAX_EXAMPLES]

    def report(self) -> SkipReport:
        return SkipReport(tuple(sorted(self.counts.items())), tuple(self.examples))
