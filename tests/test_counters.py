"""The one counter definition (generator.counters) and every consumer of it agree: rows, sums, JSON, CSV, schema."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from generator import counters as defs
from generator.counters import FIELDS, USAGE_COUNTS, Counters, Sum, add_counters, public_names
from generator.pricing.cost import Rate, costs
from generator.site import csv_files
from generator.site.export import counters as counters_json
from generator.usage import HourlyRow, row_of, usage_counts

SCHEMA = Path(defs.__file__).parent / "data" / "usage.schema.json"


def test_hourly_rows_carry_the_usage_counts_in_order() -> None:
    fields = HourlyRow.__struct_fields__
    start = fields.index("model_id") + 1
    assert fields[start : start + len(USAGE_COUNTS)] == USAGE_COUNTS
    row = row_of(0, "p", "m", (1, 2, 3, 4, 5, 6))
    assert usage_counts(row) == (1, 2, 3, 4, 5, 6)


def test_priced_columns_are_the_counters_in_order() -> None:
    """The cube's columns for a row are its counters in FIELDS order: its counts, then what the rate makes of them."""
    counts = (3, 1, 2_000_000, 1_000_000, 4_000_000, 500_000)
    rate = Rate(0, 3_000_000, 15_000_000, 300_000, 3_750_000, 2_700_000, source="inferred")  # $3/1M input, ...
    (row,) = costs(np.array([counts], np.int64), [rate], np.zeros(1, np.int64)).tolist()
    cost, unpriced, unpriced_calls, saved = rate.apply(*counts)
    assert dict(zip(FIELDS, row, strict=True)) == {
        **dict(zip(FIELDS[:6], counts, strict=True)), "cost": cost, "unpriced_tokens": unpriced,
        "unpriced_invocations": unpriced_calls, "inferred_invocations": 3, "cache_savings": saved,
    }  # fmt: skip
    assert cost == 24_075 * 10**9 and saved == 10_800 * 10**9  # 6 + 15 + 1.2 + 1.875 dollars; 4 x 2.70


def test_json_keys_are_the_definitions_public_names() -> None:
    assert tuple(counters_json(Counters())) == public_names()


def test_the_schema_lists_exactly_the_json_counters() -> None:
    schema = json.loads(SCHEMA.read_text())["$defs"]["counters"]
    assert list(schema["properties"]) == list(public_names())
    assert set(schema["required"]) == set(public_names())


@pytest.mark.parametrize("columns", [csv_files.COUNTER_COLUMNS, csv_files.DAILY_COUNTERS])
def test_csv_counter_columns_are_counters(columns: tuple[str, ...]) -> None:
    assert set(columns) <= set(public_names())
    assert len(set(columns)) == len(columns)


def test_a_sum_adds_every_field_of_rows_and_of_counters() -> None:
    one = Counters(*range(1, 7), Decimal("0.5"), 7, 8, 9, Decimal("0.25"))
    total = Sum()
    total.add(one)
    total.add(one)
    assert total.freeze() == Counters(*(2 * v for v in one))
    assert add_counters([one, Counters()]) == one


def test_csv_cells_follow_the_columns() -> None:
    c = Counters(2, 1, 10, 20, 30, 40, Decimal("1.5"), 0, 0, 0, Decimal("0.1"))
    cells = dict(zip(csv_files.DAILY_COUNTERS, csv_files._counts(c, csv_files.DAILY_COUNTERS), strict=True))
    assert cells["cost_usd"] == "1.500000" and cells["cache_savings_usd"] == "0.100000"
    assert cells["cost_complete"] == "true" and cells["input_tokens"] == 10
    nothing = Counters(invocations=2, unpriced_invocations=2)
    assert dict(zip(csv_files.COUNTER_COLUMNS, csv_files._counts(nothing), strict=True))["cost_usd"] == ""
