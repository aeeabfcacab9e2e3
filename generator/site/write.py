"""Write a rendered site to a folder, all or nothing.

Owns the output folder: files go to a fresh sibling folder which then replaces `--out` in one
rename, so a failed build never leaves a half-written site. Refuses to replace a folder it did
not build.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from generator.errors import ConfigError, PublishError

MANIFEST = "data/manifest.json"
STATE_PREFIX = ".bedrock-usage-state/"  # in the site bucket, beside the site: the store and the publish lock
TOOL = "bedrock-usage-site"  # the manifest's signature: tool.name
MAX_MANIFEST = 1 << 20  # bytes
MAX_FILES = 10_000
# Every path this tool writes; nothing else is ever replaced or deleted on its say-so.
SITE_PATH = re.compile(
    r"^(?:index\.html|pricing\.html|(?:usage|matrix)-[a-z0-9-]{1,20}\.html|(?:person|team)/[a-z0-9-]{1,50}\.html"
    r"|data/(?:usage-[a-z0-9-]{1,20}\.(?:json|csv)|daily-[a-z0-9-]{1,20}\.csv|(?:person|team)/[a-z0-9-]{1,50}\.json"
    r"|pricing\.json|manifest\.json|schema/usage\.schema\.json)"
    r"|assets/(?:vendor/)?[A-Za-z0-9_][A-Za-z0-9_.-]{0,80}\.[0-9a-f]{10}\.[A-Za-z0-9]{1,8})$"
)


def manifest_files(data: bytes) -> tuple[set[str] | None, str]:
    """The files a manifest lists (itself included), or None and why it is not a manifest this tool wrote."""
    if len(data) > MAX_MANIFEST:
        return None, f"it is {len(data):,} bytes (at most {MAX_MANIFEST:,})"
    try:
        doc = json.loads(data)
    except ValueError:
        return None, "it is not JSON"
    if not isinstance(doc, dict) or not isinstance(doc.get("tool"), dict) or doc["tool"].get("name") != TOOL:
        return None, f"it does not say it was written by {TOOL}"
    files = doc.get("files")
    if not isinstance(files, dict) or len(files) > MAX_FILES:
        return None, f"its files are not a map of at most {MAX_FILES:,} paths to hashes"
    bad = next((p for p, h in files.items() if not SITE_PATH.match(p) or not isinstance(h, str)), None)
    if bad is not None:
        return None, f"it lists {bad[:80]!r}, which is not a path this tool writes"
    return {*files, MANIFEST}, ""


def check_out_dir(out: Path) -> None:
    """Refuse an `--out` that exists and is anything but a site this tool built, exactly as its manifest lists."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; give a folder for the site")
    if not out.is_dir() or not any(out.iterdir()):
        return
    refuse = f"--out {out} is not empty and is not a site bedrock-usage built"
    manifest = out / MANIFEST
    if manifest.is_symlink() or not manifest.is_file():
        raise ConfigError(f"{refuse} (no {MANIFEST}); choose a new or empty folder")
    listed, why = manifest_files(manifest.read_bytes()[: MAX_MANIFEST + 1])
    if listed is None:
        raise ConfigError(f"{refuse} ({MANIFEST}: {why}); choose a new or empty folder")
    present = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_symlink() or not p.is_dir()}
    extra = sorted(present - listed)
    if extra:
        raise ConfigError(f"{refuse}: it holds {extra[0]!r}, which its manifest does not list; choose another folder")


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
