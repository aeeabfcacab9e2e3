"""Counts and lists in English, one way everywhere: `1 call`, `2 calls`, `a, b and c`. Pure."""

from __future__ import annotations

from collections.abc import Iterable


def plural(count: int, noun: str, nouns: str = "") -> str:
    """A count and its noun, agreeing: `1 call`, `2 calls`, `1,234 people` (with nouns="people")."""
    return f"{count:,} {noun if count == 1 else nouns or noun + 's'}"


def listing(items: Iterable[object]) -> str:
    """Items as a sentence lists them: `a`, `a and b`, `a, b and c`."""
    words = [str(i) for i in items]
    return f"{', '.join(words[:-1])} and {words[-1]}" if len(words) > 1 else "".join(words)
