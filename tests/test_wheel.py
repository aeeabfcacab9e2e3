"""A non-editable install of the wheel builds the site: templates, assets and Chart.js ship inside it."""

import subprocess
import sys
import sysconfig
from pathlib import Path

from tests.conftest import NOW_ISO, ROOT


def run(*args: str | Path, cwd: Path | None = None) -> str:
    done = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_wheel_installs_and_builds_the_demo(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", dist, ROOT)
    (wheel,) = dist.glob("bedrock_usage_site-*.whl")
    names = run(sys.executable, "-m", "zipfile", "-l", wheel)
    for needed in (
        "generator/templates/base.html",
        "generator/assets/vendor/chart.umd.min.js",
        "generator/data/prices.toml",
    ):
        assert needed in names

    # Dependencies come from this interpreter's site-packages (a .pth line: its own .pth files, such as the
    # editable install's, are not run); the package itself only from the wheel.
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    site_dir = run(venv / "bin/python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip()
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    Path(site_dir, "deps-from-test-env.pth").write_text("\n".join(sorted(deps)) + "\n")
    run(venv / "bin/python", "-m", "pip", "install", "-q", "--no-deps", "--ignore-installed", wheel)
    where = run(venv / "bin/python", "-c", "import generator; print(generator.__file__)", cwd=tmp_path)
    assert where.startswith(str(venv)), where
    out = tmp_path / "site"
    run(venv / "bin/bedrock-usage", "build", "--out", out, "--now", NOW_ISO, cwd=tmp_path)
    assert (out / "index.html").is_file()
    assert list((out / "assets/vendor").glob("chart.umd.min.*.js"))
