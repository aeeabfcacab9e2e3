"""Write a rendered site to a folder, all or nothing.

Owns the output folder: files go to a fresh sibling folder which then replaces `--out` in one
rename, so a failed build never leaves a half-written site. Refuses to replace a folder it did
not build.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

from generator.errors import ConfigError, PublishError
from generator.layout import MANIFEST, MAX_MANIFEST, manifest_files


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
    extra = sorted(present - listed.keys())
    if extra:
        raise ConfigError(f"{refuse}: it holds {extra[0]!r}, which its manifest does not list; choose another folder")


class Staging:
    """A fresh sibling folder of `out` that files are written into as they are made; `commit` puts it in place of
    `out` in one rename."""

    def __init__(self, out: Path) -> None:
        check_out_dir(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        self.out = out
        self.folder = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent))
        self.folder.chmod(0o755)

    def put(self, rel: str, data: bytes) -> None:
        """Write one file (`rel`, a site path) into the staging folder."""
        path = self.folder / rel
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        except OSError as exc:
            raise PublishError(f"could not write the site to {self.out}: {exc}") from exc

    def commit(self) -> None:
        """Put the staging folder in place of `out`: the old site is there until the new one is."""
        out, old = self.out, None
        try:
            if out.exists():
                old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
                out.rename(old / "site")
            self.folder.rename(out)
        except OSError as exc:
            if old is not None and not out.exists():
                (old / "site").rename(out)
            raise PublishError(f"could not write the site to {out}: {exc}") from exc
        finally:
            if old is not None:
                with contextlib.suppress(OSError):
                    shutil.rmtree(old)

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


@contextlib.contextmanager
def staging(out: Path) -> Iterator[Staging]:
    """A staging folder for the site at `out`, removed unless committed: a failed build leaves nothing behind."""
    site = Staging(out)
    try:
        yield site
    finally:
        site.discard()  # a no-op once committed: the folder has become `out`


def write_site(out: Path, files: Mapping[str, bytes]) -> None:
    """Write `files` (relative path -> bytes) as the whole content of `out`, atomically."""
    with staging(out) as site:
        for rel, data in files.items():
            site.put(rel, data)
        site.commit()
