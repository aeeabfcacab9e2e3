"""Sources of usage data: each turns its input into hourly rows plus a report of what it skipped.

A source never prices, maps identities or renders; `read_source` picks one by name.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from generator.errors import ConfigError
from generator.usage import HourlyRow

if TYPE_CHECKING:
    from generator.sources.athena import AthenaOptions
    from generator.sources.cloudwatch import CloudWatchOptions
    from generator.sources.s3logs import S3Options

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

    def describe(self, what: str) -> str:
        """Say how many and why: `3 records skipped (malformed_json 2, missing_field 1)`."""
        return f"{self.total:,} {what}" + (f" ({self.reasons})" if self.counts else "")

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


@dataclass(frozen=True)
class SourceResult:
    """Hourly rows from one source, what it skipped, and a description for the manifest."""

    rows: tuple[HourlyRow, ...]
    skipped: SkipReport
    description: str
    records: int  # records counted, each requestId once
    queries: Mapping[str, Any] = field(default_factory=dict)  # what a query-based source asked for
    ignored: SkipReport = SkipReport()  # files (or the rest of files) not read, by reason
    duplicates: int = 0  # records dropped because their requestId was already counted
    line: str = ""  # one line for the build summary: what the source did (queries and cost, objects read)


SOURCES = ("demo", "files", "cloudwatch", "athena")


def read_source(
    name: str,
    logs: tuple[Path, ...],
    now: datetime,
    start: datetime,
    cloudwatch: CloudWatchOptions | None = None,
    s3: S3Options | None = None,
    athena: AthenaOptions | None = None,
) -> SourceResult:
    """Read usage from the source called `name`; `start` is the earliest time any window shows.

    `files` reads local paths, or S3-delivered logs in place when `s3` is given.
    """
    from generator.sources import athena as athena_source
    from generator.sources import cloudwatch as insights_source
    from generator.sources import demo, files, s3logs

    if name == "cloudwatch":
        return insights_source.read_cloudwatch(cloudwatch or insights_source.CloudWatchOptions(), start, now)
    if name == "athena":
        if athena is None:
            raise ConfigError("--source athena needs --logs s3://bucket/prefix")
        return athena_source.read_athena(athena, start, now)
    if name == "files" and s3 is not None:
        return s3logs.read_s3(s3, start, now)
    if name == "files":
        if not logs:
            raise ConfigError("--source files needs at least one --logs PATH")
        return files.read_files(logs)
    if name == "demo":
        with tempfile.TemporaryDirectory(prefix="bedrock-usage-demo-") as tmp:
            demo.write_demo_logs(Path(tmp), now)
            result = files.read_files((Path(tmp),))
        return SourceResult(result.rows, result.skipped, "demo", result.records)  # its set-up files are no news
    raise ConfigError(f"unknown source {name!r}: use one of {', '.join(SOURCES)}")
