"""Shared fixtures: AWS isolation, localhost-only network, settings and demo-site factories."""

from __future__ import annotations

import ipaddress
import os
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, sync_playwright

from generator.config import Settings, load_settings
from generator.serve import make_server

NOW = datetime(2026, 11, 27, 7, 30, tzinfo=UTC)
NOW_ISO = "2026-11-27T07:30:00Z"
ROOT = Path(__file__).resolve().parent.parent

_real_connect = socket.socket.connect


def _guarded_connect(self: socket.socket, address: Any) -> Any:
    host = address[0] if isinstance(address, tuple) else None
    if host is not None:
        try:
            if not ipaddress.ip_address(host).is_loopback:
                raise OSError(f"tests may only connect to localhost, not {host}")
        except ValueError:
            if host != "localhost":
                raise OSError(f"tests may only connect to localhost, not {host}") from None
    return _real_connect(self, address)


@pytest.fixture(autouse=True)
def aws_isolation(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No real credentials, no ~/.aws, no settings from the developer's shell, localhost only."""
    empty = tmp_path_factory.mktemp("aws") / "empty"
    empty.write_text("")
    for name in list(__import__("os").environ):
        if name.startswith(("AWS_", "BEDROCK_")) or name.endswith("_BEDROCK_USAGE") or name in (
            "LOG_GROUP", "BUCKET", "PREFIX", "DISTRIBUTION_ID", "FQDN", "SUBNETS_ONLY", "SUBNET_ONLY",
            "TIMEZONE", "CONFIG", "SOURCE", "OUT", "WINDOWS",
        ):  # fmt: skip
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("SOURCE", "demo")  # the fake credentials above would otherwise pick cloudwatch
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    # Log coverage asks every Bedrock region by default; a test that reads an AWS account names its coverage
    # regions (COVERAGE_REGIONS), so the others ask none (tests/test_coverage.py reads them against moto)
    monkeypatch.setattr("generator.reconcile.coverage.BEDROCK_REGIONS", ())


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Build Settings the way the CLI does, with no .env and an empty environment."""

    def factory(environ: dict[str, str] | None = None, **cli: Any) -> Settings:
        cli.setdefault("out", tmp_path / "site")
        if not cli.get("logs"):
            cli.setdefault("source", "demo")
        cli.setdefault("now", NOW_ISO)
        return load_settings(cli, environ=environ or {}, env_file=None)

    return factory


@pytest.fixture(scope="session")
def demo_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The demo site built once per session at a fixed time."""
    from generator.build import build

    out = tmp_path_factory.mktemp("demo") / "site"
    build(load_settings({"out": out, "now": NOW_ISO, "source": "demo"}, environ={}, env_file=None))
    yield out


@pytest.fixture
def stubbed() -> Iterator[Callable[..., Any]]:
    """Return real botocore clients (made by generator.aws) wrapped in a Stubber: no request leaves."""
    from botocore.stub import Stubber

    from generator import aws

    stubbers: list[Stubber] = []

    def factory(service: str, region: str = "us-east-1") -> tuple[Any, Stubber]:
        client = aws.client(service, region=region)
        stubber = Stubber(client)
        stubber.activate()
        stubbers.append(stubber)
        return client, stubber

    yield factory
    for stubber in stubbers:
        stubber.assert_no_pending_responses()
        stubber.deactivate()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """moto as a real HTTP server on localhost, for end-to-end tests over the wire."""
    from moto.server import ThreadedMotoServer

    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: apt-get install -y chromium (see .ci/run)"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


def serve(site: Path) -> tuple[str, Any]:
    server = make_server(site, 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}", server


@pytest.fixture(scope="module")
def base_url(demo_site: Path) -> Iterator[str]:
    url, server = serve(demo_site)
    yield url
    server.shutdown()
