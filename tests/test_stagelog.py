"""Stage logs: one line per stage with its time and size, quiet by default, on with --verbose and in the Lambda."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from generator import stagelog
from generator.cli import cli

STAGES = ("source", "pricing", "reconcile", "report", "render", "write")
NOW = "2026-12-01T12:00:00Z"


@pytest.fixture(autouse=True)
def quiet_again() -> None:
    yield
    stagelog.configure(0)


def test_build_is_quiet_by_default(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["build", "--source", "demo", "--out", str(tmp_path / "s"), "--now", NOW])
    assert result.exit_code == 0, result.output
    assert "stage " not in result.stderr


def test_verbose_logs_each_stage_in_order_with_time_and_size(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["build", "--source", "demo", "--out", str(tmp_path / "s"), "--now", NOW, "-v"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("stage ")]
    assert [line.split(":")[0].removeprefix("stage ") for line in lines] == list(STAGES)
    assert all(re.search(r": \d+\.\d\d s", line) for line in lines)
    source, render = lines[0], lines[STAGES.index("render")]
    assert re.search(r"[\d,]+ records, [\d,]+ rows, 0 skipped", source)
    assert re.search(r"\d+ files, [\d,]+ bytes", render)


def test_a_failed_stage_says_so(caplog: pytest.LogCaptureFixture) -> None:
    stagelog.configure(1)
    stagelog.log.propagate = True  # so caplog sees it
    with caplog.at_level(logging.INFO, logger="generator"), pytest.raises(ValueError), stagelog.stage("source") as s:
        s.note(rows=3)
        raise ValueError("boom")
    assert re.fullmatch(
        r"stage source: \d+\.\d\d s, 3 rows; peak RSS \d+ MB \(failed\)", caplog.records[-1].getMessage()
    )


def test_the_lambda_logs_every_stage_through_the_runtimes_handler() -> None:
    root = logging.getLogger()
    runtime = logging.StreamHandler()  # the Lambda runtime puts one on the root logger
    root.addHandler(runtime)
    try:
        stagelog.configure(always=True)
        assert stagelog.log.getEffectiveLevel() == logging.INFO and stagelog.log.propagate
        assert not any(isinstance(h, stagelog._Stderr) for h in stagelog.log.handlers)  # no second copy of a line
    finally:
        root.removeHandler(runtime)
    stagelog.configure(0)
    assert stagelog.log.getEffectiveLevel() == logging.WARNING and not stagelog.log.propagate
