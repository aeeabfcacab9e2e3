"""Reconciliation with the Cost and Usage Report: CUR 2.0 exports (gzip CSV and Parquet, every usage type) in a
folder and in S3 (moto), set beside the estimate from the logs, equal to a calculation by hand; the store of read
files; a denied bucket; the settings."""

import csv
import gzip
import io
import json
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import duckdb
import pytest
from moto import mock_aws

from generator.build import build
from generator.config import ConfigError
from generator.reconcile import cur
from generator.reconcile.billing import kind_of
from generator.state import LocalStore
from tests.test_sources import lines, record

NOW = "2026-11-27T07:30:00+00:00"
DAYS = [date(2026, 11, 21) + timedelta(days=i) for i in range(6)]  # the 7d window's complete UTC days
ANN, BOB = "arn:aws:iam::123456789012:user/ann", "arn:aws:iam::123456789012:user/bob"
COLUMNS = ["line_item_usage_start_date", "line_item_product_code", "line_item_usage_type", "line_item_operation",
           "line_item_usage_amount", "line_item_unblended_cost", "line_item_line_item_type", "line_item_iam_principal",
           "product_region_code"]  # fmt: skip


def calls(user: str, day: date, n: int) -> list[dict[str, object]]:
    """n calls of Nova Lite, each 1M input tokens ($0.06) and 100K output tokens ($0.024)."""
    return [record(user, f"{day.isoformat()}T10:{i:02d}:00Z", input={"inputTokenCount": 1_000_000},
                   output={"outputTokenCount": 100_000}) for i in range(n)]  # fmt: skip


def bill_rows() -> list[dict[str, str]]:
    """Each day: ann's and bob's tokens billed as estimated, and every line the logs never show."""
    rows = []
    for day in [*DAYS, date(2026, 11, 27)]:  # the 27th is not a complete day of the window
        stamp = f"{day.isoformat()}T00:00:00Z"
        for usage, cost, line_type, who, product in (
            ("USE1-NovaLite-input-tokens", "0.12", "Usage", ANN, "AmazonBedrock"),
            ("USE1-NovaLite-output-tokens", "0.048", "Usage", ANN, "AmazonBedrock"),
            ("USE1-NovaLite-input-tokens", "0.06", "Usage", BOB, "AmazonBedrock"),
            ("USE1-NovaLite-output-tokens", "0.024", "Usage", BOB, "AmazonBedrock"),
            ("USE1-mantle-input-tokens-gpt-oss-120b", "0.5", "Usage", ANN, "AmazonBedrock"),
            ("USE1-ProvisionedThroughput-ModelUnits", "2", "Usage", "", "AmazonBedrock"),
            ("USE1-NovaLite-input-tokens-batch", "0.3", "Usage", BOB, "AmazonBedrock"),
            ("USE1-NovaLite-output-tokens-priority", "0.1", "Usage", ANN, "AmazonBedrock"),
            ("USE1-NovaLite-input-tokens-flex", "0.05", "Usage", BOB, "AmazonBedrock"),
            ("", "0.2", "Tax", "", "AmazonBedrock"),
            ("USE1-TimedStorage-ByteHrs", "9", "Usage", "", "AmazonS3"),  # not Bedrock: never read
        ):
            rows.append(dict(zip(COLUMNS, [stamp, product, usage, "InvokeModel", "1", cost, line_type, who,
                                            "us-east-1"], strict=True)))  # fmt: skip
    return rows


def csv_gz(rows: list[dict[str, str]]) -> bytes:
    text = io.StringIO()
    writer = csv.DictWriter(text, COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    return gzip.compress(text.getvalue().encode(), mtime=0)  # the same bytes every time (xdist compares test ids)


def parquet(rows: list[dict[str, str]], path: Path) -> None:
    """The same rows as a Parquet file, cost as a DECIMAL and the day as a TIMESTAMP, as Data Exports writes them."""
    source = path.with_suffix(".csv")
    source.write_bytes(gzip.decompress(csv_gz(rows)))
    duckdb.execute(
        f"COPY (SELECT * REPLACE (CAST(line_item_unblended_cost AS DECIMAL(18, 6)) AS line_item_unblended_cost, "
        f"CAST(line_item_usage_start_date AS TIMESTAMP) AS line_item_usage_start_date) "
        f"FROM read_csv('{source}', all_varchar = true)) TO '{path}' (FORMAT parquet)"
    )
    source.unlink()


def logs(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    found = [c for day in DAYS for c in calls("ann", day, 2) + calls("bob", day, 1)]
    (folder / "calls.jsonl").write_bytes(lines(*found))
    return folder


PERIOD = "export/data/BILLING_PERIOD=2026-11"


def check(bill: dict[str, Any]) -> None:
    """The reconciliation, by hand: 6 days x (ann 2 calls, bob 1 call), each $0.06 + $0.024."""
    assert bill["source"] == "cur" and bill["note"] == ""
    assert (bill["first_day"], bill["last_day"]) == ("2026-11-21", "2026-11-26")
    kinds = {k["name"]: (k["billed_usd"], k["estimated_usd"]) for k in bill["kinds"]}
    assert kinds["input"] == pytest.approx((6 * 0.18, 6 * 0.18)) and kinds["output"] == pytest.approx((0.432, 0.432))
    assert bill["estimate_off_by"] == 0.0  # logged, standard-tier usage: the estimate equals the CUR
    assert {k["kind"]: k["billed_usd"] for k in bill["not_in_logs"]} == pytest.approx(
        {"provisioned": 12.0, "mantle": 3.0, "batch": 1.8, "adjustment": 1.2, "priority": 0.6, "flex": 0.3}
    )
    assert bill["not_in_logs_usd"] == pytest.approx(18.9)
    people = {p["name"]: (p["billed_usd"], p["estimated_usd"]) for p in bill["people"]}
    expected = {"ann": (4.608, 1.008), "bob": (2.604, 0.504), "(no principal in the bill)": (13.2, 0.0)}
    assert bill["people_by_principal"] and people == {k: pytest.approx(v) for k, v in expected.items()}
    assert sum(d["billed_usd"] for d in bill["days"]) == pytest.approx(20.412)
    each = {(d["day"], d["kind"]): (d["billed_usd"], d["estimated_usd"]) for d in bill["day_kinds"]}
    assert each[("2026-11-23", "input")] == pytest.approx((0.18, 0.18)) and each[("2026-11-23", "mantle")] == (0.5, 0)
    assert len({d for d, _ in each}) == 6


@pytest.mark.parametrize("form", ["csv.gz", "parquet"])
def test_a_folder_export_reconciles_to_a_hand_calculation(tmp_path: Path, make_settings: Any, form: str) -> None:
    folder = tmp_path / "cur" / PERIOD
    folder.mkdir(parents=True)
    if form == "parquet":
        parquet(bill_rows(), folder / "part-0.parquet")
    else:
        (folder / "part-0.csv.gz").write_bytes(csv_gz(bill_rows()))
    (tmp_path / "cur/export/data/BILLING_PERIOD=2026-06").mkdir()  # another month's folder: not read
    (tmp_path / "cur/export/data/BILLING_PERIOD=2026-06/part-0.csv.gz").write_bytes(b"not read")
    settings = make_settings(source="files", logs=(str(logs(tmp_path / "logs")),), out=tmp_path / "site", now=NOW,
                             bill="cur", cur=str(tmp_path / "cur"))  # fmt: skip
    result = build(settings)
    check(json.loads((tmp_path / "site/data/usage-7d.json").read_text())["billing"])
    page = (tmp_path / "site/usage-7d.html").read_text()
    assert "Billed, not in logs: <strong>$18.90</strong> (provisioned throughput $12.00, mantle $3.00" in page
    assert "the estimate is off by <strong>+0.0%</strong>" in page and result.billing_note == ""


def test_an_s3_export_is_read_in_place_and_a_denied_one_is_a_note(tmp_path: Path, make_settings: Any) -> None:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="billing")
        s3.put_object(Bucket="billing", Key=f"cur/{PERIOD}/part-0.csv.gz", Body=csv_gz(bill_rows()))
        settings = make_settings(source="files", logs=(str(logs(tmp_path / "logs")),), out=tmp_path / "site",
                                 now=NOW, cur="s3://billing/cur")  # fmt: skip
        build(settings)
        check(json.loads((tmp_path / "site/data/usage-7d.json").read_text())["billing"])
        missing = make_settings(source="files", logs=(str(tmp_path / "logs"),), out=tmp_path / "other", now=NOW,
                                cur="s3://no-such-bucket/cur")  # fmt: skip
        result = build(missing)
    bill = json.loads((tmp_path / "other/data/usage-7d.json").read_text())["billing"]
    assert bill["first_day"] is None and "reading s3://no-such-bucket/cur failed" in bill["note"]
    assert "showing the estimate only" in result.summary()


def test_a_file_read_once_is_taken_from_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "cur" / PERIOD
    folder.mkdir(parents=True)
    (folder / "part-0.csv.gz").write_bytes(csv_gz(bill_rows()))
    store, reads = LocalStore(tmp_path / "state"), []
    real = cur.charges_of
    monkeypatch.setattr(cur, "charges_of", lambda data, name: reads.append(name) or real(data, name))
    first = cur.read_cur(str(tmp_path / "cur"), DAYS[0], DAYS[-1], lambda: None, store)
    again = cur.read_cur(str(tmp_path / "cur"), DAYS[0], DAYS[-1], lambda: None, store)
    assert len(reads) == 1 and first == again and len(first.charges) == 6 * 10
    (folder / "part-0.csv.gz").write_bytes(csv_gz(bill_rows()[:11]))  # the export is rewritten: read again
    assert len(cur.read_cur(str(tmp_path / "cur"), DAYS[0], DAYS[-1], lambda: None, store).charges) == 10
    assert len(reads) == 2


@pytest.mark.parametrize(
    ("data", "why"),
    [(gzip.compress(b"a,b\n1,2\n", mtime=0), "part-0.csv.gz: not a CUR 2.0 export: no line_item_usage_start_date"),
     (csv_gz([{**bill_rows()[0], "line_item_unblended_cost": "NaN"}]), "part-0.csv.gz: a line item has no usable"),
     (csv_gz([{**bill_rows()[0], "line_item_unblended_cost": "1e400"}]), "part-0.csv.gz: a line item has no usable"),
     (csv_gz([{**bill_rows()[0], "line_item_usage_start_date": "yesterday"}]), "a line item has no usable date"),
     (csv_gz(bill_rows())[:200], "the file is damaged"), (b"\xff\xfe\x00junk", "the file is damaged")],
    ids=["foreign", "nan", "huge", "date", "cut", "junk"],
)  # fmt: skip
def test_a_damaged_or_foreign_file_is_one_line_and_the_estimate_stands(tmp_path: Path, data: bytes, why: str) -> None:
    (tmp_path / "part-0.csv.gz").write_bytes(data)
    bill = cur.read_cur(str(tmp_path), DAYS[0], DAYS[-1], lambda: None, None)
    assert bill.charges == () and why in bill.note and bill.note.endswith("showing the estimate only")


@pytest.mark.parametrize(
    ("usage", "line_type", "kind"),
    [("USE1-Claude4Sonnet-input-tokens", "Usage", "input"), ("EU-Claude4Sonnet-output-tokens", "Usage", "output"),
     ("USE1-Claude4Sonnet-cache-read-input-token-count", "Usage", "cache_read"),
     ("USE1-Claude4Sonnet-cache-write-input-token-count", "Usage", "cache_write"),
     ("USW2-mantle-output-tokens-gpt-5", "Usage", "mantle"), ("USE1-NovaPro-input-tokens-flex", "Usage", "flex"),
     ("USE1-ProvisionedThroughput-ModelUnits", "Usage", "provisioned"), ("USE1-Titan-images", "Usage", "other"),
     ("USE1-NovaPro-input-tokens", "Credit", "adjustment")],
)  # fmt: skip
def test_usage_types_by_kind(usage: str, line_type: str, kind: str) -> None:
    assert kind_of(usage, line_type) == kind


def test_the_bill_setting(make_settings: Any, tmp_path: Path) -> None:
    files = {"source": "files", "logs": (str(tmp_path),)}
    assert make_settings(cur="s3://b/p", **files).cur == "s3://b/p"
    assert make_settings(bill="cost-explorer", **files).cost_explorer
    assert make_settings(cost_explorer=True, **files).cost_explorer
    with pytest.raises(ConfigError, match="--bill cur needs --cur"):
        make_settings(bill="cur", **files)
    with pytest.raises(ConfigError, match="BILL: use none, cost-explorer or cur"):
        make_settings({"BILL": "invoice"}, **files)
    with pytest.raises(ConfigError, match=r"athena:DATABASE\.TABLE queries the export with Athena: it goes with"):
        make_settings(cur="athena:billing.cur", **files)
    with pytest.raises(ConfigError, match="--cur goes with --bill cur"):
        make_settings(bill="cost-explorer", cur="s3://b/p", **files)


class CurAthena:
    """Athena over a CUR 2.0 export table: answers the columns query and the sums query from `bill_rows()`."""

    def __init__(self, principal: bool = True, columns: list[str] | None = None) -> None:
        self.principal, self.queries = principal, []  # type: list[str]
        self.columns = columns or [c for c in COLUMNS if principal or c != "line_item_iam_principal"]

    def start_query_execution(self, QueryString: str, **_: Any) -> dict[str, str]:
        self.queries.append(QueryString)
        return {"QueryExecutionId": str(len(self.queries) - 1)}

    def get_query_execution(self, QueryExecutionId: str) -> dict[str, Any]:
        return {"QueryExecution": {"Status": {"State": "SUCCEEDED"}, "Statistics": {"DataScannedInBytes": 1000}}}

    def get_paginator(self, name: str) -> Any:
        outer = self

        class Pages:
            def paginate(self, QueryExecutionId: str) -> list[Any]:
                sql = outer.queries[int(QueryExecutionId)]
                if "information_schema" in sql:
                    rows = [[n] for n in outer.columns]
                else:  # what GROUP BY would give: the Bedrock rows of the days asked, summed
                    sums: dict[tuple[str, ...], Decimal] = {}
                    for r in bill_rows():
                        day = r["line_item_usage_start_date"][:10]
                        if "Bedrock" not in r["line_item_product_code"] or not "2026-11-21" <= day <= "2026-11-26":
                            continue
                        key = (
                            day,
                            r["line_item_product_code"],
                            r["line_item_usage_type"],
                            r["line_item_line_item_type"],
                            r["line_item_iam_principal"] if outer.principal else "",
                        )
                        sums[key] = sums.get(key, Decimal(0)) + Decimal(r["line_item_unblended_cost"])  # fmt: skip
                    rows = [[*k, str(v)] for k, v in sums.items()]
                data = [{"Data": [{}]}] + [{"Data": [{"VarCharValue": v} for v in row]} for row in rows]
                return [{"ResultSet": {"Rows": data}}]

        return Pages()

    def stop_query_execution(self, QueryExecutionId: str) -> dict[str, Any]:
        return {}


def test_with_the_athena_source_the_cur_is_queried_where_it_lies(tmp_path: Path) -> None:
    import sqlglot

    from generator.sources.athena import AthenaOptions, AthenaRunner

    client = CurAthena()
    runner = AthenaRunner(client, AthenaOptions(location="s3://logs/"))
    bill = cur.read_cur_athena(runner, "athena:billing.cur_export", DAYS[0], DAYS[-1])
    assert bill.note == "" and len(client.queries) == 2
    sqlglot.parse_one(client.queries[1], read="trino")  # Athena's query engine takes it
    assert "TIMESTAMP '2026-11-27 00:00:00'" in client.queries[1] and '"billing"."cur_export"' in client.queries[1]
    assert sum(c.amount for c in bill.charges) == Decimal("20.412")
    assert {c.kind for c in bill.charges} >= {"mantle", "provisioned", "batch", "flex", "priority", "adjustment"}
    options = AthenaOptions(location="s3://logs/")
    older = cur.read_cur_athena(AthenaRunner(CurAthena(principal=False), options), "athena:billing.cur_export",
                                DAYS[0], DAYS[-1])  # fmt: skip
    assert older.note == "" and not any(c.principal for c in older.charges)
    other = cur.read_cur_athena(AthenaRunner(CurAthena(columns=["a", "b"]), options), "athena:billing.x", *DAYS[::5])
    assert "billing.x is not a CUR 2.0 export table (no line_item_product_code" in other.note
