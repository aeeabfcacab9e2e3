"""Every command through click's CliRunner: help, output and exit codes."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from generator.cli import cli
from tests.conftest import NOW_ISO


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["build"],
        ["publish"],
        ["serve"],
        ["doctor"],
        ["pricing"],
        ["pricing", "show"],
        ["pricing", "refresh"],
        ["setup-logging"],
        ["deploy"],
        ["destroy"],
        ["install-timer"],
        ["uninstall-timer"],
    ],
)
def test_help(runner: CliRunner, args: list[str]) -> None:
    result = runner.invoke(cli, [*args, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_version(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["--version"])
    assert result.exit_code == 0 and "bedrock-usage, version" in result.output


def test_build_demo(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "site"
    result = runner.invoke(cli, ["build", "--out", str(out), "--now", NOW_ISO, "--windows", "7d,1d"])
    assert result.exit_code == 0, result.output
    assert (
        result.output.startswith("built ")
        and "tokens unpriced, not in any cost (models: arn:aws:bedrock:us-east-1:123456789012:provisioned-model/"
        in result.output
    )
    assert json.loads((out / "data/manifest.json").read_text())["windows"] == ["1d", "7d"]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["build", "--timezone", "Nowhere/Land"], 2, "TIMEZONE: unknown time zone 'Nowhere/Land'"),
        (["build", "--windows", "fortnight"], 2, "WINDOWS: unknown window fortnight"),
        (["build", "--source", "files"], 2, "--source files needs at least one --logs PATH"),
        (["build", "--source", "nope"], 2, "Invalid value for '--source'"),
        (["build", "--config", "/no/such.toml"], 2, "cannot read it"),
        (["build", "--strict-pricing"], 1, "tokens unpriced, not in any cost"),
        (["build", "--logs", "/no/such/folder"], 1, "no such file or folder"),
        (["serve", "/no/such/site"], 2, "holds no index.html"),
        (["publish", "--source", "demo"], 2, "publish needs a bucket"),
        (["publish"], 2, "publish never uploads the demo's made-up people unless you pass --source demo"),
        (["pricing", "refresh"], 2, "Missing option '--out'"),
    ],
)
def test_errors_are_one_line_with_exit_code(
    runner: CliRunner, tmp_path: Path, args: list[str], code: int, message: str
) -> None:
    result = runner.invoke(cli, [*args, "--out", str(tmp_path / "s")] if args[0] in ("build", "publish") else args)
    assert result.exit_code == code, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "s").exists()


def test_env_settings_apply(runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIMEZONE_BEDROCK_USAGE", "Europe/Berlin")
    monkeypatch.setenv("WINDOWS", "mtd")
    out = tmp_path / "site"
    result = runner.invoke(cli, ["build", "--out", str(out), "--now", NOW_ISO])
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "data/usage-mtd.json").read_text())
    assert doc["window"]["timezone"] == "Europe/Berlin"
    assert doc["window"]["start"] == "2026-10-31T23:00:00Z"


def test_env_file_option(runner: CliRunner, tmp_path: Path) -> None:
    env = tmp_path / "prod.env"
    env.write_text("TIMEZONE=Mars/Base\n")
    result = runner.invoke(cli, ["build", "--env-file", str(env), "--out", str(tmp_path / "s")])
    assert result.exit_code == 2 and "Mars/Base" in result.output


def test_pricing_show(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["pricing", "show", "--model", "sonnet-4-5"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0].split()[:4] == ["model", "route", "where", "input"]
    assert any(line.split()[1:5] == ["global", "every", "region", "3.00"] for line in lines)
    assert any(line.split()[1:5] == ["geo", "every", "region", "3.30"] for line in lines)


def test_pricing_show_with_override(runner: CliRunner, tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[[prices]]\nmodel = 'acme.thing-v1'\ninput = 1\noutput = 2\n")
    result = runner.invoke(cli, ["pricing", "show", "--config", str(config), "--model", "acme"])
    assert result.exit_code == 0 and "acme.thing-v1" in result.output


def test_python_dash_m(tmp_path: Path) -> None:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "generator", "--help"], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and "bedrock-usage" in done.stdout


def test_help_texts_and_the_demo_config_say_what_the_tool_does() -> None:
    """A plain `build` reads the logs of an AWS account (the demo only when asked for): the help and the demo's
    config say so, and every command the help names exists."""
    runner = CliRunner()
    build_help = " ".join(runner.invoke(cli, ["build", "--help"]).output.split())
    assert "the demo only when asked for" in build_help and "default: demo" not in build_help
    demo = (Path(__file__).resolve().parent.parent / "generator/data/demo.toml").read_text().splitlines()[0]
    assert "`bedrock-usage build --source demo`" in demo
    top = runner.invoke(cli, ["--help"]).output
    for command in ("build", "publish", "deploy", "fetch", "doctor", "serve", "pricing"):
        assert f"  {command} " in top, command
    fetch_help = " ".join(runner.invoke(cli, ["fetch", "--help"]).output.split())
    assert "DataReaderPolicy" in fetch_help and "--stack" in fetch_help
