"""Property tests: money adds up however the usage is sliced, and unpriced usage never leaks into it."""

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from generator.counters import add_counters
from generator.identity import IdentityRules, resolve
from generator.pricing import load_book
from generator.pricing.cost import cost_rows
from generator.site.report import WindowReport, summarize
from generator.usage import HourlyRow, make_windows

NOW = datetime(2026, 11, 27, 7, 30, tzinfo=UTC)
END = int(NOW.timestamp()) // 3600 * 3600
BOOK = load_book()
PRICED = [
    "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
    "global.anthropic.claude-haiku-4-5-20251001-v1:0",
    "anthropic.claude-3-haiku-20240307-v1:0",  # no cache price: cache tokens are unpriced
    "amazon.nova-micro-v1:0",
]
UNPRICED = ["acme.unknown-v1:0", "arn:aws:bedrock:us-east-1:1:application-inference-profile/x"]
PEOPLE = [f"arn:aws:iam::1:user/{n}" for n in ("ann", "bob", "cy")]
TZ = ZoneInfo("America/New_York")

tokens = st.integers(0, 5_000_000)
rows = st.lists(
    st.builds(
        HourlyRow,
        hour=st.integers(END - 95 * 24 * 3600, END + 3600).map(lambda h: h - h % 3600),
        principal=st.sampled_from(PEOPLE),
        model_id=st.sampled_from(PRICED + UNPRICED),
        invocations=st.integers(1, 50),
        errors=st.integers(0, 1),
        input_tokens=tokens,
        output_tokens=tokens,
        cache_read_tokens=tokens,
        cache_write_tokens=tokens,
    ),
    max_size=60,
)


def reports(data: list[HourlyRow]) -> list[WindowReport]:
    people = resolve((r.principal for r in data), IdentityRules())
    costed = list(cost_rows(data, BOOK, people, {}))
    return [summarize(costed, w, TZ, people) for w in make_windows(NOW, TZ)]


@settings(max_examples=60, deadline=None)
@given(rows)
def test_window_cost_is_the_sum_of_its_days_people_and_models(data: list[HourlyRow]) -> None:
    for rep in reports(data):
        total = rep.totals
        assert add_counters(u.counters for u in rep.users) == total
        assert add_counters(m.counters for m in rep.models) == total
        assert add_counters(d.counters for d in rep.daily) == total
        assert add_counters(c.counters for c in rep.cells) == total
        assert {d.day for d in rep.daily} <= set(rep.days)


@settings(max_examples=60, deadline=None)
@given(rows)
def test_costs_are_never_negative(data: list[HourlyRow]) -> None:
    for rep in reports(data):
        assert rep.totals.cost >= 0
        assert all(c.counters.cost >= 0 for c in rep.cells)


@settings(max_examples=60, deadline=None)
@given(rows, st.sampled_from(UNPRICED), tokens, st.integers(0, 89))
def test_an_unpriced_row_never_changes_priced_totals(data: list[HourlyRow], model: str, n: int, days: int) -> None:
    extra = HourlyRow(END - days * 86400 - 3600, PEOPLE[0], model, 1, 0, n, n, 0, 0)
    for before, after in zip(reports(data), reports([*data, extra]), strict=True):
        assert after.totals.cost == before.totals.cost
        assert {(c.person, c.model): c.counters.cost for c in after.cells if c.counters.cost} == {
            (c.person, c.model): c.counters.cost for c in before.cells if c.counters.cost
        }
        if after.window.contains(extra.hour):
            assert after.totals.unpriced_tokens == before.totals.unpriced_tokens + 2 * n
            assert after.totals.invocations == before.totals.invocations + 1


def test_decimal_sums_are_exact() -> None:
    assert sum((Decimal("0.1") for _ in range(10)), Decimal(0)) == Decimal(1)
