"""The counters: the one definition of what is summed over usage (calls, tokens, cost, what is unpriced).

A low contract. `Counters` names every counter once, in order; the hourly rows carry the first six
(`USAGE_COUNTS`), costed rows carry all of them, and sums, JSON keys and CSV columns are derived from
this list (tests/test_counters.py fails when any of them disagree). Adding a counter starts here.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any, NamedTuple


class Counters(NamedTuple):
    """Sums over a set of rows (a named tuple: immutable and cheap to make by the hundred thousand)."""

    invocations: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost: Decimal = Decimal(0)
    unpriced_tokens: int = 0
    unpriced_invocations: int = 0
    inferred_invocations: int = 0  # calls priced at a Claude family's price, not their own model's
    cache_savings: Decimal = Decimal(0)  # cache reads at the plain input price, less what they cost

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens + self.cache_read_tokens + self.cache_write_tokens

    @property
    def cost_complete(self) -> bool:
        """True when every token and call here was priced, so `cost` is the whole estimate."""
        return not (self.unpriced_tokens or self.unpriced_invocations)

    @property
    def priced_nothing(self) -> bool:
        """True when no part of these calls was priced: `cost` is not a $0 estimate but no estimate."""
        return self.invocations > 0 and self.unpriced_invocations == self.invocations


FIELDS: tuple[str, ...] = Counters._fields
USAGE_COUNTS = FIELDS[:6]  # what a log record says; the rest is the price stage's
MONEY = frozenset({"cost", "cache_savings"})  # Decimal dollars: written as `<name>_usd`
# Derived flags written beside the counters, each after the counter named: (flag, after)
DERIVED = (("cost_complete", "unpriced_invocations"),)
_ZERO = tuple(Counters())


def public_name(field: str) -> str:
    """The counter's name in the JSON and CSV files (dollars end in `_usd`)."""
    return f"{field}_usd" if field in MONEY else field


def public_names() -> tuple[str, ...]:
    """Every counter and derived flag, in the order the JSON files write them."""
    names: list[str] = []
    after = {counter: flag for flag, counter in DERIVED}
    for f in FIELDS:
        names.append(public_name(f))
        if f in after:
            names.append(after[f])
    return tuple(names)


def compiled(signature: str, lines: list[str], env: dict[str, Any] | None = None) -> Any:
    """A function whose body is generated from the counter list (as dataclasses generates __init__): one
    unrolled statement per counter, the fastest Python can run, with no list of counters written out twice."""
    namespace: dict[str, Any] = dict(env or {})
    exec(f"def {signature}:\n" + "".join(f"    {line}\n" for line in lines), namespace)
    return namespace[signature.partition("(")[0]]


class Sum:
    """A running sum of counters over rows or Counters (anything with every counter as an attribute)."""

    __slots__ = ("v",)

    def __init__(self) -> None:
        self.v: list[Any] = list(_ZERO)

    # add(item): v[i] += item.<counter i>; merge(other): v[i] += other.v[i]
    add = compiled("add(self, item)", ["v = self.v", *(f"v[{i}] += item.{f}" for i, f in enumerate(FIELDS))])
    merge = compiled("merge(self, item)", ["v, o = self.v, item.v", *(f"v[{i}] += o[{i}]" for i in range(len(FIELDS)))])

    def freeze(self) -> Counters:
        return Counters(*self.v)


def add_counters(items: Iterable[Any]) -> Counters:
    """Sum counters (or rows) field by field."""
    total = Sum()
    for c in items:
        total.add(c)
    return total.freeze()
