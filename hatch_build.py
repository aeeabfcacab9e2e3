"""Build hook: put the pinned Chart.js from the npm registry into assets/vendor/ of the wheel (and, for the
browser tests, make node_modules hold the pinned axe-core, which no site ships).

Chart.js is never committed. `npm ci` installs exactly the version and sha512 integrity in
package-lock.json, and this hook copies its one browser file next to our own assets, so a pip
user gets a working site without Node.js. Run `python hatch_build.py` to vendor it by hand.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

try:
    from hatchling.builders.hooks.plugin.interface import BuildHookInterface
except ImportError:  # run as a script, outside a build
    BuildHookInterface = object  # type: ignore[misc,assignment]

FILES = {"chart.js": ("dist/chart.umd.min.js", "chart.umd.min.js")}


def vendor(root: Path) -> list[Path]:
    """Install the locked npm packages if needed and copy their browser files to assets/vendor/."""
    target = root / "assets" / "vendor"
    copied = []
    for package, (source, name) in FILES.items():
        if not installed(root, package):
            if (target / name).is_file():
                continue  # already vendored (an sdist built where npm was present)
            raise RuntimeError(
                f"{package} comes from the npm registry at build time and npm is not installed: "
                "install Node.js and npm, or install the published wheel"
            )
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / "node_modules" / package / source, target / name)
        copied.append(target / name)
    return copied


def installed(root: Path, package: str) -> bool:
    """Make node_modules hold the locked version of `package` (`npm ci` when it does not); False without npm."""
    wanted = json.loads((root / "package-lock.json").read_text())["packages"][f"node_modules/{package}"]["version"]
    folder = root / "node_modules" / package
    if _version(folder) == wanted:
        return True
    npm = shutil.which("npm")
    if npm is None:
        return False
    subprocess.run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=root, check=True)
    if _version(folder) != wanted:
        raise RuntimeError(f"npm ci did not install {package} {wanted}")
    return True


def _version(folder: Path) -> str | None:
    try:
        return str(json.loads((folder / "package.json").read_text())["version"])
    except (OSError, ValueError, KeyError):
        return None


class CustomBuildHook(BuildHookInterface):  # type: ignore[misc,valid-type]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        vendor(Path(self.root))


if __name__ == "__main__":
    for path in vendor(Path(__file__).resolve().parent):
        print(f"vendored {path}")
