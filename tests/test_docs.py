"""The docs a newcomer reads: a README of at most 250 lines whose links and commands work, the mkdocs site built
with --strict, and the IAM page naming every service the stack's template uses."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from generator.cli import cli

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
SERVICE_OF = {"S3": "s3", "CloudFront": "cloudfront", "Lambda": "lambda", "IAM": "iam", "Cognito": "cognito-idp",
              "SecretsManager": "secretsmanager", "SSM": "ssm", "SQS": "sqs", "SNS": "sns", "CloudWatch": "cloudwatch",
              "Logs": "logs", "Scheduler": "scheduler", "Athena": "athena", "Route53": "route53",
              "CloudFormation": "cloudformation"}  # fmt: skip


def test_the_readme_is_short_and_its_links_lead_somewhere() -> None:
    assert README.count("\n") <= 250
    for target in re.findall(r"\]\(((?:docs/)[^)#]+)(?:#[^)]*)?\)", README):
        assert (ROOT / target).is_file(), target
    for heading in ("## Two commands", "## Where usage comes from", "## Deploy in five steps", "## Running cost",
                    "## The IAM deploy needs", "## Upgrading"):  # fmt: skip
        assert heading in README


def test_every_command_the_readme_shows_exists() -> None:
    named = set(re.findall(r"(?<![\w/-])bedrock-usage ([a-z][a-z-]*)", README))
    assert {"build", "serve", "setup-logging", "doctor", "deploy", "fetch", "destroy"} <= named
    helps = {}
    for command in sorted(named):
        done = CliRunner().invoke(cli, [command, "--help"])
        assert done.exit_code == 0, (command, done.output)
        helps[command] = done.output
    for command, rest in re.findall(r"(?<![\w/-])bedrock-usage ([a-z][a-z-]*)([^`\n]*)", README):
        for option in re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", rest):
            assert option in helps[command], (command, option)  # every option shown is one the command takes


def test_the_docs_site_builds_strictly(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")],
                          cwd=ROOT, capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "site/index.html").is_file() and (tmp_path / "site/deploy-iam/index.html").is_file()


def test_the_iam_page_names_every_service_the_template_uses() -> None:
    page = (ROOT / "docs/deploy-iam.md").read_text()
    policy = json.loads(page.split("```json", 1)[1].split("```", 1)[0])
    actions = {a for s in policy["Statement"] for a in s["Action"]}
    services = {a.split(":")[0] for a in actions}
    template = (ROOT / "generator/deploy/stack.yaml").read_text()
    used = {SERVICE_OF[m] for m in re.findall(r"Type: AWS::([A-Za-z0-9]+)::", template)}
    assert used <= services, used - services
    assert "iam:PassRole" in actions and "cloudformation:CreateStack" in actions


@pytest.mark.parametrize("page", sorted(p.name for p in (ROOT / "docs").glob("*.md")))
def test_every_docs_page_is_in_the_nav(page: str) -> None:
    assert f": {page}" in (ROOT / "mkdocs.yml").read_text()
