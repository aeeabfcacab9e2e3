"""Write a rendered site to a folder, all or nothing.

Owns the output folder: files go to a fresh sibling folder which then replaces `--out` in one
rename, so a failed build never leaves a half-written site. Refuses to replace a folder it did
not build.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from generator.errors import ConfigError, PublishError

MANIFEST = "data/manifest.json"


def check_out_dir(out: Path) -> None:
    """Refuse an `--out` that exists and holds anything but a site this tool built."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; give a folder for the site")
    if out.is_dir() and any(out.iterdir()) and not (out / MANIFEST).is_file():
        raise ConfigError(
            f"--out {out} is not empty and holds no {MANIFEST}, so it was not built by bedrock-usage; "
            "choose a new or empty folder"
        )


def write_file(path: Path, data: bytes) -> None:
    """Write one file atomically: a reader sees the old content or the new, never a part."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False) as tmp:
            tmp.write(data)
        Path(tmp.name).replace(path)
    except OSError as exc:
        raise PublishError(f"could not write {path}: {exc.strerror or exc}") from None


def write_site(out: Path, files: Mapping[str, bytes]) -> None:
    """Write `files` (relative path -> bytes) as the whole content of `out`, atomically."""
    check_out_dir(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent))
    old: Path | None = None
    try:
        staging.chmod(0o755)
        for rel, data in files.items():
            path = staging / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            out.rename(old / "site")
        staging.rename(out)
    except BaseException as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if old is not None and not out.exists():
            (old / "site").rename(out)
        if isinstance(exc, OSError):
            raise PublishError(f"could not write the site to {out}: {exc}") from exc
        raise
    finally:
        if old is not None:
            with contextlib.suppress(OSError):
                shutil.rmtree(old)
