"""`install-timer`: a systemd service and timer that run `bedrock-usage publish` on a Linux host.

Owns the unit files' text and where they go; installing is writing them and asking systemctl to
reload and enable the timer. `--dry-run` prints the units.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from generator.errors import ConfigError, GeneratorError

NAME = "bedrock-usage-publish"
_SPAN = re.compile(r"^\d+(s|sec|m|min|h|hr|d|day|w)$")


@dataclass(frozen=True)
class Units:
    """The unit files for one installation."""

    folder: Path
    service: str
    timer: str
    user: bool

    def files(self) -> dict[Path, str]:
        return {self.folder / f"{NAME}.service": self.service, self.folder / f"{NAME}.timer": self.timer}


def _controls(text: str) -> bool:
    """Whether a unit-file value holds a newline or other control character (it could start a new line)."""
    return any(ord(c) < 0x20 or c == "\x7f" for c in text)


def _path(path: Path) -> str:
    """A folder for a unit file's setting: no control characters, specifiers doubled."""
    text = str(path)
    if _controls(text):
        raise ConfigError(f"the folder {text!r} holds a newline or control character; run from another folder")
    return text.replace("%", "%%")


def units(args: Sequence[str], every: str, user: bool, workdir: Path, home: Path) -> Units:
    """Write the service (runs publish once) and the timer (every `every`, catching up after downtime)."""
    if not _SPAN.match(every):
        raise ConfigError(f"--every {every!r}: use a systemd time span such as 30min, 1h or 1d")
    if not args or args[0] != "publish":
        raise ConfigError("give the publish command after --, e.g. -- publish --bucket my-site")
    bad = next((a for a in args if _controls(a)), None)
    if bad is not None:
        raise ConfigError(f"argument {bad!r} holds a newline or control character; a unit file cannot carry it")
    # systemd expands %-specifiers and $VARIABLES in ExecStart: doubled, they stand for themselves.
    words = [w.replace("%", "%%").replace("$", "$$") for w in (sys.executable, "-m", "generator", *args)]
    command = shlex.join(words)
    env = workdir / ".env"
    service = "\n".join([
        "[Unit]",
        "Description=Publish the Bedrock usage site",
        "Wants=network-online.target",
        "After=network-online.target",
        "",
        "[Service]",
        "Type=oneshot",
        f"WorkingDirectory={_path(workdir)}",
        f"EnvironmentFile=-{_path(env)}",
        f"ExecStart={command}",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "",
    ])  # fmt: skip
    timer = "\n".join([
        "[Unit]",
        "Description=Publish the Bedrock usage site on a schedule",
        "",
        "[Timer]",
        "OnBootSec=2min",
        f"OnUnitActiveSec={every}",
        "RandomizedDelaySec=60",
        f"Unit={NAME}.service",
        "",
        "[Install]",
        "WantedBy=timers.target",
        "",
    ])  # fmt: skip
    folder = home / ".config/systemd/user" if user else Path("/etc/systemd/system")
    return Units(folder, service, timer, user)


def _systemctl(user: bool, *args: str) -> None:
    command = ["systemctl", *(["--user"] if user else []), *args]
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise GeneratorError("systemctl is not on this machine: install-timer needs systemd") from None
    if done.returncode:
        raise GeneratorError(f"{shlex.join(command)} failed: {done.stderr.strip()}")


def install(found: Units) -> None:
    """Write the units, reload systemd and start the timer."""
    for path, text in found.files().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    _systemctl(found.user, "daemon-reload")
    _systemctl(found.user, "enable", "--now", f"{NAME}.timer")


def uninstall(user: bool, home: Path) -> list[Path]:
    """Stop and remove the timer and service; return the files removed."""
    folder = home / ".config/systemd/user" if user else Path("/etc/systemd/system")
    paths = [folder / f"{NAME}.timer", folder / f"{NAME}.service"]
    if not any(p.exists() for p in paths):
        raise ConfigError(f"no {NAME} timer is installed in {folder}")
    _systemctl(user, "disable", "--now", f"{NAME}.timer")
    for path in paths:
        path.unlink(missing_ok=True)
    _systemctl(user, "daemon-reload")
    return paths
