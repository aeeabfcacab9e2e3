"""The demo site matches its golden copy byte for byte (regenerate: python -m tests.regen_golden)."""

import difflib
from pathlib import Path

import pytest

from tests.regen_golden import FILES, GOLDEN


@pytest.mark.parametrize("rel", FILES)
def test_demo_site_matches_golden(demo_site: Path, rel: str) -> None:
    built = (demo_site / rel).read_text()
    golden = (GOLDEN / rel).read_text()
    if built != golden:
        diff = "".join(
            list(difflib.unified_diff(golden.splitlines(True), built.splitlines(True), "golden", "built"))[:60]
        )
        pytest.fail(f"{rel} differs from tests/golden (python -m tests.regen_golden if intended):\n{diff}")
