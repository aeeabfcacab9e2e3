"""Counts and lists agree in number everywhere: one helper makes them, and no built page says "1 calls"."""

from __future__ import annotations

import re
from pathlib import Path

from generator.words import listing, plural

WRONG = re.compile(r"(?<![\d,.])1 (calls|tokens|files|records|log records|prices|days|notes|people|times)\b")


def test_plural_and_listing() -> None:
    assert [plural(n, "call") for n in (0, 1, 2, 1234)] == ["0 calls", "1 call", "2 calls", "1,234 calls"]
    assert plural(1, "person", "people") == "1 person" and plural(3, "person", "people") == "3 people"
    assert [listing(x) for x in ([], ["a"], ["a", "b"], ["a", "b", "c"])] == ["", "a", "a and b", "a, b and c"]


def test_no_page_of_the_demo_says_one_in_the_plural(demo_site: Path) -> None:
    for page in demo_site.rglob("*.html"):
        text = re.sub(r"<[^>]+>", " ", page.read_text())
        assert not WRONG.findall(" ".join(text.split())), page
