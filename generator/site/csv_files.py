"""The CSV files: `usage-<w>.csv` (person x model x route) and `daily-<w>.csv` (day x person x model).

Owns RFC 4180 output and the guard against spreadsheet formulas and NULs in names. Pure.
"""

from __future__ import annotations

import csv
import functools
import io
from collections.abc import Iterable, Sequence
from decimal import Context, Decimal
from typing import Any

from generator.counters import MONEY, Counters, compiled
from generator.site.export import BuildMeta
from generator.site.report import WindowReport

_MICRO = Decimal("0.000001")
_WIDE = Context(prec=60)  # quantizing any sum of bounded counts x prices never overflows the precision


# The counter columns, in the files' published order (a contract: tests/test_counters.py checks each is a counter
# of generator.counters or its derived flag).
COUNTER_COLUMNS = (
    "invocations", "errors", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
    "unpriced_tokens", "unpriced_invocations", "cost_complete", "cost_usd", "inferred_invocations",
)  # fmt: skip
CSV_FIELDS = ("window", "person", "model", "model_name", "route", *COUNTER_COLUMNS, "price_source")
ATTRIBUTION_FIELDS = ("team", "via")  # then tag_<dimension> for each breakdown the config names
DAILY_COUNTERS = (*COUNTER_COLUMNS, "cache_savings_usd")


_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def no_nul(text: str) -> str:
    """A name as written into a page or CSV: a NUL (JSON can carry one) shows as U+FFFD."""
    return text.replace("\x00", "\ufffd")


def cell(text: str) -> str:
    """A text cell a spreadsheet cannot run (OWASP CSV injection: a leading quote) and that holds no NUL."""
    text = no_nul(text)
    return "'" + text if text.startswith(_FORMULA) else text


def usage_csv(rep: WindowReport, meta: BuildMeta, dimensions: Sequence[str] = ()) -> bytes:
    """Return `usage-<w>.csv`: one row per person x model x route, split by the attribution columns after the
    published ones (team, the principal a metadata-named person called through, each breakdown dimension);
    `cost_usd` is empty when nothing was priced."""
    text = functools.cache(cell)  # a name is on many rows: made safe once
    name = functools.cache(lambda model: cell(meta.book.name_of(model)))
    rows = ((rep.window.key, text(c.person), text(c.model), name(c.model), c.route,
             *_counts(c.counters), rep.price_source(c.model), text(c.team), text(c.via),
             *(text(v) for v in (*c.dims, *[""] * len(dimensions))[: len(dimensions)]))
            for c in rep.attributed)  # fmt: skip
    return _write((*CSV_FIELDS, *ATTRIBUTION_FIELDS, *(f"tag_{d}" for d in dimensions)), rows)


DAILY_FIELDS = ("window", "date", "model", "model_name", *DAILY_COUNTERS)


def daily_csv(rep: WindowReport, meta: BuildMeta) -> bytes:
    """Return `daily-<w>.csv`: one row per local day x model, everyone together (each person's days are in their
    file under data/person/: a day x person x model table would pass any size a browser or spreadsheet takes)."""
    rows = ((rep.window.key, day.isoformat(), cell(model), cell(meta.book.name_of(model)),
             *_counts(k, DAILY_COUNTERS)) for (day, model), k in rep.day_models.items())  # fmt: skip
    return _write(DAILY_FIELDS, rows)


def _counts(k: Counters, columns: tuple[str, ...] = COUNTER_COLUMNS) -> tuple[object, ...]:
    """One row's counter cells, in `columns`' order."""
    found: tuple[object, ...] = _cells(columns)(k)
    return found


@functools.cache
def _cells(columns: tuple[str, ...]) -> Any:
    """The function that makes the cells of `columns` from a Counters, one expression a column (made once)."""
    return compiled("cells(k)", [f"return ({''.join(f'{_value(name)}, ' for name in columns)})"], {"_money": _money})


def _value(name: str) -> str:
    """One counter column's cell, as an expression of `k`: dollars to the micro-dollar, and no cost at all when
    nothing was priced."""
    if name == "cost_complete":
        return '"true" if k.cost_complete else "false"'
    field = name.removesuffix("_usd")
    if field not in MONEY:
        return f"k.{field}"
    return '"" if k.priced_nothing else _money(k.cost)' if field == "cost" else f"_money(k.{field})"


def _money(v: Decimal) -> str:
    return f"{v.quantize(_MICRO, context=_WIDE)}"


def _write(header: tuple[str, ...], rows: Iterable[tuple[object, ...]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")  # RFC 4180: a field holding CR or LF is then quoted
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue().encode()
