"""Rewrite the golden copy of the demo site: `python -m tests.regen_golden`.

Run it after an intended change to pages or data, and review the diff before committing.
"""

from pathlib import Path

from generator.build import build
from generator.config import load_settings
from tests.conftest import NOW_ISO, ROOT

GOLDEN = ROOT / "tests" / "golden" / "demo"
# The pages in full (readable diffs) and the manifest, which pins every other file by sha256.
FILES = ("index.html", "matrix-7d.html", "pricing.html", "usage-last-month.html", "data/manifest.json")


def build_demo(out: Path) -> None:
    build(load_settings({"out": out, "now": NOW_ISO, "source": "demo"}, environ={}, env_file=None))


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        build_demo(Path(tmp) / "site")
        for rel in FILES:
            target = GOLDEN / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes((Path(tmp) / "site" / rel).read_bytes())
            print(f"wrote {target.relative_to(ROOT)}")
