"""Hostile settings and endpoints: a webhook that redirects or drips, config files that never end, an allow-list
that lets everyone in, and log-group wildcards. Network stays on loopback: a second local port stands in for
the cloud metadata address a redirect would reach."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from generator import notify
from generator.config import load_settings
from generator.deploy.cloudformation import DeployRequest
from generator.errors import ConfigError


class Target(BaseHTTPRequestHandler):
    """What a redirect would reach (the stand-in for 169.254.169.254): it must never be asked."""

    hits: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        Target.hits.append(self.path)
        self.send_response(200)
        self.end_headers()

    do_GET = do_POST

    def log_message(self, *args: object) -> None:
        pass


class Tricky(BaseHTTPRequestHandler):
    target = ""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        if self.path.startswith("/redirect"):
            self.send_response(307)
            self.send_header("Location", Tricky.target + "/latest/meta-data/iam/security-credentials/")
            self.end_headers()
        elif self.path.startswith("/drip"):
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            for _ in range(8):  # one byte every 2 s: 16 s in all, past the 10 s deadline
                try:
                    self.wfile.write(b"x")
                    self.wfile.flush()
                except OSError:
                    return
                time.sleep(2)
        else:
            self.send_response(200)
            self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def _serve(handler: type[BaseHTTPRequestHandler]) -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def servers() -> Iterator[str]:
    target, target_url = _serve(Target)
    tricky, tricky_url = _serve(Tricky)
    Tricky.target, Target.hits = target_url, []
    yield tricky_url
    target.shutdown()
    tricky.shutdown()


def test_a_webhook_redirect_is_not_followed(servers: str) -> None:
    problems = notify._post(f"{servers}/redirect/T000/B000/secret-token", {"text": "x"})
    assert problems and "HTTP 307 (a redirect, not followed)" in problems[0]
    assert Target.hits == []
    assert "secret-token" not in problems[0] and "127.0.0.1" not in problems[0]


def test_a_dripping_webhook_cannot_hold_the_run(servers: str) -> None:
    start = time.monotonic()
    problems = notify._post(f"{servers}/drip/secret-token", {"text": "x"})
    assert time.monotonic() - start < notify.TIMEOUT + 2
    assert problems == [f"the budget webhook failed (no answer within {notify.TIMEOUT} s); it is tried again next run"]


def test_a_good_webhook_is_fine(servers: str) -> None:
    assert notify._post(f"{servers}/ok", {"text": "x"}) == []


def test_a_mistyped_webhook_is_never_echoed() -> None:
    with pytest.raises(ConfigError) as caught:
        hook = "https://hooks.slack.com/services/T0/B0/sekrit tok"
        load_settings({"source": "demo"}, environ={"BUDGET_WEBHOOK": hook}, env_file=None)
    assert "BUDGET_WEBHOOK" in str(caught.value) and "sekrit" not in str(caught.value)


@pytest.mark.parametrize("name", ["/dev/zero", "big", "deep"])
def test_config_files_are_size_and_depth_capped(tmp_path: Path, name: str) -> None:
    path = Path(name) if name.startswith("/") else tmp_path / f"{name}.toml"
    if name == "big":
        path.write_text("# " + "x" * (2 << 20) + "\n")
    elif name == "deep":
        path.write_text("a = " + "[" * 50 + "]" * 50 + "\n")
    with pytest.raises(ConfigError, match=r"over 1 MiB|nested deeper|invalid TOML"):
        load_settings({"source": "demo", "config": str(path)}, environ={}, env_file=None)


@pytest.mark.parametrize("cidrs", ["0.0.0.0/0", "::/0", "10.0.0.0/8,::/0"])
def test_an_allow_list_of_everyone_needs_public(cidrs: str) -> None:
    request = DeployRequest(stack="usage", region="us-east-1", log_groups=("/aws/bedrock/modelinvocations",),
                            subnets_only=cidrs)  # fmt: skip
    with pytest.raises(ConfigError, match="lets every address in"):
        request.access(None)
    assert request.__class__(**{**request.__dict__, "public": True}).access(None).public
    assert request.__class__(**{**request.__dict__, "sign_in": "cognito"}).access(None).sign_in == "cognito"


@pytest.mark.parametrize("group", ["*", "/aws/*", "a b", '/aws/bedrock"', "x" * 513])
def test_log_groups_take_no_wildcards(group: str) -> None:
    with pytest.raises(ConfigError, match="LOG_GROUP"):
        load_settings({"source": "cloudwatch", "log_groups": (group,), "regions": ("us-east-1",)}, environ={},
                      env_file=None)  # fmt: skip
    ok = "arn:aws:logs:us-east-1:210987654321:log-group:/aws/bedrock/modelinvocations"
    found = load_settings({"source": "cloudwatch", "log_groups": (ok, "/a_b-c.d/#1"), "regions": ("us-east-1",)},
                          environ={}, env_file=None)  # fmt: skip
    assert found.cloudwatch.log_groups == (ok, "/a_b-c.d/#1")
