"""`serve`: never leaves the site folder, lists nothing, and answers every request with the security headers."""

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from generator.headers import CONTENT_SECURITY_POLICY
from generator.serve import make_server


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    tmp_path = tmp_path_factory.mktemp("serve")
    root = tmp_path / "site"
    (root / "data" / "empty").mkdir(parents=True)
    (root / "index.html").write_text("<h1>ok</h1>")
    (root / "data" / "usage-7d.json").write_text("{}")
    (tmp_path / "secret.txt").write_text("secret")
    (root / "passwd").symlink_to("/etc/passwd")
    (root / "secret.txt").symlink_to(tmp_path / "secret.txt")
    (root / "outside").symlink_to(tmp_path, target_is_directory=True)
    server = make_server(root)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}", root
    server.shutdown()
    server.server_close()


def raw(address: str, request: bytes) -> bytes:
    host, port = address.split(":")
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        conn.sendall(request)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def get(address: str, path: str) -> tuple[int, bytes, bytes]:
    reply = raw(address, f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    head, _, body = reply.partition(b"\r\n\r\n")
    return int(head.split()[1]), head, body


@pytest.mark.parametrize(
    "path",
    ["/passwd", "/secret.txt", "/outside/secret.txt", "/../secret.txt", "/%2e%2e/secret.txt", "/data/",
     "/data/empty/", "/index.html%00.json", "/%00", "/%ff%fe", "/..%5csecret.txt", "/nothing.html"],
)  # fmt: skip
def test_nothing_outside_the_site_and_no_listing(site: tuple[str, Path], path: str) -> None:
    status, head, body = get(site[0], path)
    assert status == 404 and b"secret" not in body and b"root:" not in body and b"usage-7d" not in body
    assert CONTENT_SECURITY_POLICY.encode() in head


def test_site_files_are_served_with_the_headers(site: tuple[str, Path]) -> None:
    for path in ("/", "/index.html", "/data/usage-7d.json", "/index.html?x=1"):
        status, head, _ = get(site[0], path)
        assert status == 200 and CONTENT_SECURITY_POLICY.encode() in head and b"nosniff" in head


@pytest.mark.parametrize("request_line", [b"GARBAGE\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n", b"\x16\x03\x01\x00\r\n\r\n"])
def test_malformed_requests_get_the_headers_too(site: tuple[str, Path], request_line: bytes) -> None:
    head = raw(site[0], request_line).partition(b"\r\n\r\n")[0]
    assert head.startswith(b"HTTP/") and b" 200 " not in head.split(b"\r\n")[0]
    assert CONTENT_SECURITY_POLICY.encode() in head and b"X-Frame-Options: DENY" in head
