"""The paths every stage agrees on: the site's files, the manifest, the state prefix and the package's folders.

A low contract: the site writer, the store, publish and deploy all import it, and it imports nothing of
theirs. Owns the manifest's format (what makes a folder or bucket "a site this tool built") and atomic
single-file writes. No AWS calls here.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

from generator.errors import ConfigError, GeneratorError, PublishError

MANIFEST = "data/manifest.json"
STATE_PREFIX = ".bedrock-usage-state/"  # in the site bucket, beside the site: the store and the publish lock
TOOL = "bedrock-usage-site"  # the manifest's signature: tool.name
# A site has about two files a person (a page and a JSON file), so the manifest grows with the organisation: the
# bounds below take 29,000 people. A manifest entry is a path (at most ~75 bytes) and a sha256 (64), quoted.
MAX_FILES = 60_000
MAX_MANIFEST = (1 << 20) + MAX_FILES * 160  # bytes: the manifest's other fields, and every file's entry
# Every path this tool writes; nothing else is ever replaced or deleted on its say-so.
SITE_PATH = re.compile(
    r"^(?:index\.html|pricing\.html|(?:usage|matrix)-[a-z0-9-]{1,20}\.html|(?:person|team)/[a-z0-9-]{1,50}\.html"
    r"|data/(?:usage-[a-z0-9-]{1,20}\.(?:json|csv)|daily-[a-z0-9-]{1,20}\.csv|(?:person|team)/[a-z0-9-]{1,50}\.json"
    r"|pricing\.json|manifest\.json|schema/usage\.schema\.json)"
    r"|assets/(?:vendor/)?[A-Za-z0-9_][A-Za-z0-9_.-]{0,80}\.[0-9a-f]{10}\.[A-Za-z0-9]{1,8})$"
)


def manifest_files(data: bytes) -> tuple[dict[str, str] | None, str]:
    """The files a manifest lists with the sha256 each had (itself included, with ""), or None and why it is not a
    manifest this tool wrote."""
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
    return {**files, MANIFEST: ""}, ""


def write_file(path: Path, data: bytes) -> None:
    """Write one file atomically: a reader sees the old content or the new, never a part."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False) as tmp:
            tmp.write(data)
        Path(tmp.name).replace(path)
    except OSError as exc:
        raise PublishError(f"could not write {path}: {exc.strerror or exc}") from None


def key_prefix(prefix: str) -> str:
    """Normalise a key prefix: empty, or without a leading slash and with one trailing slash."""
    bare = prefix.strip("/")
    return bare + "/" if bare else ""


def package_dir(name: str) -> Path:
    """Find `templates/` or `assets/`: inside the installed package, else beside it in a checkout."""
    package = Path(__file__).parent
    for candidate in (package / name, package.parent / name):
        if candidate.is_dir():
            return candidate
    raise GeneratorError(f"{name}/ is missing from the installation; reinstall bedrock-usage-site")


def parse_url(url: str) -> tuple[str, str]:
    """Split `s3://bucket/prefix` into bucket and a prefix that is empty or ends in `/`."""
    match = re.fullmatch(r"s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(/.*)?", url)
    if not match:
        raise ConfigError(f"--logs {url[:200]!r}: not an S3 URL like s3://bucket/prefix")
    prefix = (match.group(2) or "").strip("/")
    if ".." in prefix.split("/"):
        raise ConfigError(f"--logs {url[:200]!r}: a prefix may not contain '..'")
    # S3's safe key characters only: the prefix reaches Athena's DDL and the stack's parameters, where a
    # quote or a space would be code
    if prefix and not re.fullmatch(r"[A-Za-z0-9!_.*()~-]{1,200}(/[A-Za-z0-9!_.*()~-]{1,200}){0,20}", prefix):
        raise ConfigError(f"--logs {url[:200]!r}: use letters, digits and ! _ . * ( ) ~ - in the prefix's folders")
    return match.group(1), f"{prefix}/" if prefix else ""
