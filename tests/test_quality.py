"""Lint, format and strict typing are part of the test command, so CI enforces them."""

import subprocess
import sys

import pytest

from tests.conftest import ROOT


@pytest.mark.parametrize(
    "command",
    [
        ["ruff", "check", "generator", "tests", "benchmarks", "hatch_build.py"],
        ["ruff", "format", "--check", "generator", "tests", "benchmarks", "hatch_build.py"],
        ["mypy", "--strict", "generator"],
    ],
    ids=["ruff-check", "ruff-format", "mypy"],
)
def test_tool_is_clean(command: list[str]) -> None:
    done = subprocess.run([sys.executable, "-m", *command], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_only_cli_imports_click_and_only_aws_creates_clients() -> None:
    for path in (ROOT / "generator").rglob("*.py"):
        text = path.read_text()
        if path.name != "cli.py":
            assert "import click" not in text, path
        if path.name != "aws.py":
            assert "boto3.client(" not in text and "Session(" not in text, path
        if path.name != "config.py":
            assert "os.environ" not in text and "getenv" not in text, path
