"""Preview a built site on localhost with the production security headers.

Owns the local HTTP server only; it serves files and never builds them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from generator.errors import ConfigError
from generator.headers import SECURITY_HEADERS, content_type


class _Handler(SimpleHTTPRequestHandler):
    def end_headers(self) -> None:
        for name, value in SECURITY_HEADERS.items():
            self.send_header(name, value)
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def guess_type(self, path: str | Any) -> str:
        return content_type(str(path))

    def log_message(self, format: str, *args: Any) -> None:
        pass


def make_server(directory: Path, port: int = 0) -> ThreadingHTTPServer:
    """Bind a server for `directory` on 127.0.0.1 (`port` 0 picks a free one)."""
    if not (directory / "index.html").is_file():
        raise ConfigError(f"{directory} holds no index.html; run `bedrock-usage build --out {directory}` first")
    handler = functools.partial(_Handler, directory=str(directory))
    try:
        return ThreadingHTTPServer(("127.0.0.1", port), handler)
    except OSError as exc:
        raise ConfigError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}; try another --port") from None


def serve_forever(directory: Path, port: int, announce: Callable[[str], Any] = print) -> None:
    """Serve `directory` until interrupted."""
    server = make_server(directory, port)
    announce(f"serving {directory} at http://127.0.0.1:{server.server_address[1]}/ (Ctrl-C to stop)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        announce("stopped")
    finally:
        server.server_close()
