"""Preview a built site on localhost with the production security headers.

Owns the local HTTP server only; it serves files and never builds them.
"""

from __future__ import annotations

import functools
import os
import urllib.parse
from collections.abc import Callable
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from generator.errors import ConfigError
from generator.headers import SECURITY_HEADERS, content_type


class _Handler(SimpleHTTPRequestHandler):
    # A malformed request line is answered before its version is known; as HTTP/1.0, so headers are sent.
    default_request_version = "HTTP/1.0"

    def end_headers(self) -> None:
        for name, value in SECURITY_HEADERS.items():
            self.send_header(name, value)
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def send_head(self) -> Any:
        """Serve a regular file inside the site, or 404: never a listing, never a file a link points out to."""
        file = self._inside()
        if file is None:
            self.send_error(HTTPStatus.NOT_FOUND, "Not found")
            return None
        self.path = "/" + file.relative_to(self._root()).as_posix()
        return super().send_head()

    def _root(self) -> Path:
        return Path(self.directory).resolve()

    def _inside(self) -> Path | None:
        root = self._root()
        try:
            path = urllib.parse.unquote(self.path.split("?", 1)[0].split("#", 1)[0], errors="strict")
            if "\x00" in path or "\\" in path:
                return None
            found = (root / path.lstrip("/")).resolve()  # every link resolved, then checked
            if found.is_dir():
                found = (found / "index.html").resolve()
            inside = found.is_relative_to(root) and found.is_file()
        except (OSError, ValueError):
            return None
        return found if inside else None

    def list_directory(self, path: str | os.PathLike[str]) -> None:
        self.send_error(HTTPStatus.NOT_FOUND, "Not found")  # a folder without index.html is not listed
        return None

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
