"""Sources of usage data: each turns its input into hourly rows plus a report of what it skipped.

A source never prices, maps identities or renders; `read_source` picks one by name.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from generator.errors import ConfigError
from generator.skips import SkipReport
from generator.usage import HourlyRow

if TYPE_CHECKING:
    from generator.sources.athena import AthenaOptions
    from generator.sources.cloudwatch import CloudWatchOptions
    from generator.sources.s3logs import S3Options


@dataclass(frozen=True)
class SourceResult:
    """Hourly rows from one source, what it skipped, and a description for the manifest."""

    rows: Sequence[HourlyRow]  # a tuple, or the columns of a RowTable
    skipped: SkipReport
    description: str
    records: int  # records counted, each requestId once
    queries: Mapping[str, Any] = field(default_factory=dict)  # what a query-based source asked for
    ignored: SkipReport = field(default_factory=SkipReport)  # files (or the rest of files) not read, by reason
    duplicates: int = 0  # records dropped because their requestId was already counted
    line: str = ""  # one line for the build summary: what the source did (queries and cost, objects read)
    backfill: str = ""  # "backfilling: N of M days of logs read ..." while a first read is not yet done


SOURCES = ("demo", "files", "s3", "cloudwatch", "athena")


def read_source(
    name: str,
    logs: tuple[Path, ...],
    now: datetime,
    start: datetime,
    cloudwatch: CloudWatchOptions | None = None,
    s3: S3Options | None = None,
    athena: AthenaOptions | None = None,
    meta_keys: tuple[str, ...] = (),
) -> SourceResult:
    """Read usage from the source called `name`; `start` is the earliest time any window shows.

    `files` reads local paths; `s3` reads S3-delivered logs in place. Rows keep the request-metadata values of
    `meta_keys` (the keys `[attribution]` names), and nothing else of the metadata.
    """
    from generator.sources import athena as athena_source
    from generator.sources import cloudwatch as insights_source
    from generator.sources import demo, files, s3logs

    if name == "cloudwatch":
        options = replace(cloudwatch or insights_source.CloudWatchOptions(), meta_keys=meta_keys)
        return insights_source.read_cloudwatch(options, start, now)
    if name == "athena":
        if athena is None:
            raise ConfigError("--source athena needs --logs s3://bucket/prefix")
        return athena_source.read_athena(replace(athena, meta_keys=meta_keys), start, now)
    if name == "s3":
        if s3 is None:
            raise ConfigError("--source s3 needs --logs s3://bucket/prefix")
        return s3logs.read_s3(replace(s3, meta_keys=meta_keys), start, now)
    if name == "files":
        if not logs:
            raise ConfigError("--source files needs at least one --logs PATH")
        return files.read_files(logs, meta_keys=meta_keys)
    if name == "demo":
        with tempfile.TemporaryDirectory(prefix="bedrock-usage-demo-") as tmp:
            demo.write_demo_logs(Path(tmp), now)
            result = files.read_files((Path(tmp),), meta_keys=meta_keys)
        return SourceResult(result.rows, result.skipped, "demo", result.records)  # its set-up files are no news
    raise ConfigError(f"unknown source {name!r}: use one of {', '.join(SOURCES)}")
