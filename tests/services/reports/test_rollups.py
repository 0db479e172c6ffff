"""The rollups of schemas/clickhouse/005 fill themselves from inserts into the base tables."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

from clickhouse_connect.driver.client import Client

from services.store.clickhouse import connect
from services.store.migrations import MIGRATIONS_DIR, discover, migrate
from tests.conftest import random_name

DAY = datetime(2026, 5, 4, 9, tzinfo=UTC)
EVENT_COLUMNS = ["event_id", "type", "ts", "received_at", "advertiser_id", "partner_id",
                 "partner_type", "campaign_id", "revenue", "is_bot", "fraud_flags"]  # fmt: skip
CREDIT_COLUMNS = ["conversion_id", "conversion_ts", "advertiser_id", "partner_id", "partner_type",
                  "model", "role", "event_name", "weight", "credited_revenue", "is_reversal",
                  "attributed_at"]  # fmt: skip
PAYOUT_COLUMNS = ["conversion_id", "conversion_ts", "advertiser_id", "partner_id", "contract_id",
                  "payout_type", "amount", "currency", "created_at"]  # fmt: skip


def events() -> list[list[object]]:
    return [
        ["e-click-1", "click", DAY, DAY, "adv", "p1", "affiliate", "c1", 0, False, []],
        ["e-click-2", "click", DAY, DAY, "adv", "p1", "affiliate", "c1", 0, True, []],
        ["e-click-3", "click", DAY, DAY, "adv", "p1", "affiliate", "c1", 0, False, ["flood"]],
        ["e-conv-1", "conversion", DAY, DAY, "adv", "", "", "", 1234, False, []],
    ]


def credits() -> list[list[object]]:
    return [
        ["e-conv-1", DAY, "adv", "p1", "affiliate", "linear", "introducer", "purchase", 0.5,
         617, False, DAY],
        ["e-conv-1", DAY, "adv", "p2", "content", "linear", "closer", "purchase", 0.5, 617,
         False, DAY],
        ["e-conv-1", DAY, "adv", "p2", "content", "linear", "closer", "purchase", -0.25, -300,
         True, DAY],
    ]  # fmt: skip


def payouts() -> list[list[object]]:
    return [
        ["e-conv-1", DAY, "adv", "p1", "k1", "cpa", 500, "EUR", DAY],
        ["e-conv-1", DAY, "adv", "p1", "k1", "cpa", -200, "EUR", DAY],
    ]


def insert_all(client: Client, token: str = "") -> None:
    settings = {"insert_deduplication_token": token} if token else None
    client.insert("events", events(), column_names=EVENT_COLUMNS, settings=settings)
    client.insert("attribution_credits", credits(), column_names=CREDIT_COLUMNS,
                  settings=settings)  # fmt: skip
    client.insert("payouts", payouts(), column_names=PAYOUT_COLUMNS, settings=settings)


def rollups(client: Client) -> dict[str, list[tuple[object, ...]]]:
    found = {
        "events": client.query(
            "SELECT day, type, partner_id, campaign_id, sum(events), sum(bot_events), "
            "sum(flagged_events), sum(revenue) FROM events_daily "
            "GROUP BY day, type, partner_id, campaign_id ORDER BY type"
        ).result_rows,
        "credits": client.query(
            "SELECT partner_id, role, sum(credits), sum(reversals), sum(weight), "
            "sum(reversed_weight), sum(gross_revenue), sum(reversed_revenue), "
            "sum(credited_revenue) FROM credits_daily GROUP BY partner_id, role "
            "ORDER BY partner_id"
        ).result_rows,
        "payouts": client.query(
            "SELECT partner_id, sum(payouts), sum(reversals), sum(amount) FROM payouts_daily "
            "GROUP BY partner_id"
        ).result_rows,
    }
    return {name: [tuple(row) for row in rows] for name, rows in found.items()}


EXPECTED = {
    "events": [
        (DAY.date(), "click", "p1", "c1", 3, 1, 1, 0),
        (DAY.date(), "conversion", "", "", 1, 0, 0, 1234),
    ],
    "credits": [
        ("p1", "introducer", 1, 0, 0.5, 0.0, 617, 0, 617),
        ("p2", "closer", 1, 1, 0.5, -0.25, 617, -300, 317),
    ],
    "payouts": [("p1", 1, 1, 300)],
}


def test_inserts_fill_the_rollups(ch_client: Client) -> None:
    insert_all(ch_client)
    assert rollups(ch_client) == EXPECTED
    insert_all(ch_client, token="second-batch")  # a different batch: counted again
    doubled = rollups(ch_client)
    assert doubled["events"][0][4:] == (6, 2, 2, 0)
    assert doubled["payouts"] == [("p1", 2, 2, 600)]


def test_a_replayed_insert_counts_once(ch_client: Client) -> None:
    insert_all(ch_client, token="batch-1")
    insert_all(ch_client, token="batch-1")  # the attributor retrying the same write
    assert ch_client.query("SELECT count() FROM events").result_rows == [(4,)]
    assert rollups(ch_client) == EXPECTED


def test_rollups_survive_merges(ch_client: Client) -> None:
    insert_all(ch_client, token="a")
    insert_all(ch_client, token="b")
    for table in ("events_daily", "credits_daily", "payouts_daily"):
        ch_client.command(f"OPTIMIZE TABLE {table} FINAL")
    merged = rollups(ch_client)
    assert merged["credits"][1][2:] == (2, 2, 1.0, -0.5, 1234, -600, 634)
    rows = ch_client.query("SELECT count() FROM credits_daily").result_rows
    assert rows == [(2,)]  # one row per sorting key after the merge


def test_history_is_copied_into_new_rollups(chdb_url: str, tmp_path: Path) -> None:
    """A store that has data before migration 005 gets it in the rollups, once."""
    early = tmp_path / "early"
    early.mkdir()
    for path in sorted(MIGRATIONS_DIR.glob("00[1-4]_*.sql")):
        shutil.copy(path, early / path.name)
    name = random_name("rollup")
    client = connect(chdb_url, name)
    try:
        migrate(client, early)
        client.insert("events", events(), column_names=EVENT_COLUMNS)
        client.insert("attribution_credits", credits(), column_names=CREDIT_COLUMNS)
        client.insert("payouts", payouts(), column_names=PAYOUT_COLUMNS)
        applied = [m.version for m in migrate(client)]
        assert 5 in applied
        assert rollups(client) == EXPECTED
        insert_all(client, token="after")  # and the views take over from here
        assert rollups(client)["payouts"] == [("p1", 2, 2, 600)]
    finally:
        client.command(f"DROP DATABASE IF EXISTS {name}")


FLAGGED_COLUMNS = [*CREDIT_COLUMNS, "fraud_flags"]
FLOOD = ["click_flooding"]
NEXT_DAY = datetime(2026, 5, 5, 9, tzinfo=UTC)


def flagged_credits() -> list[list[object]]:
    """An install won by p1 while flooding, a purchase credited from its touch then partly
    refunded (the reversal carries the flag too), and a clean install of p2, on DAY; a clean
    install of p1 on NEXT_DAY."""
    return [
        ["i-1", DAY, "adv", "p1", "mobile_network", "last_touch", "sole", "install", 1.0, 0,
         False, DAY, FLOOD],
        ["b-1", DAY, "adv", "p1", "mobile_network", "last_touch", "sole", "purchase", 1.0, 900,
         False, DAY, FLOOD],
        ["b-1", DAY, "adv", "p1", "mobile_network", "last_touch", "sole", "purchase", -0.5,
         -300, True, DAY, FLOOD],
        ["i-2", DAY, "adv", "p2", "mobile_network", "last_touch", "sole", "install", 1.0, 0,
         False, DAY, []],
        ["i-3", NEXT_DAY, "adv", "p1", "mobile_network", "last_touch", "sole", "install", 1.0,
         0, False, NEXT_DAY, []],
    ]  # fmt: skip


def credit_split(client: Client) -> list[tuple[object, ...]]:
    """Per day, partner and event: the credited measures, then the flagged ones."""
    return [
        tuple(row)
        for row in client.query(
            "SELECT day, partner_id, event_name, sum(credits), sum(reversals), sum(weight), "
            "sum(reversed_weight), sum(gross_revenue), sum(reversed_revenue), "
            "sum(credited_revenue), sum(flagged_credits), sum(flagged_reversals), "
            "sum(flagged_weight), sum(flagged_credited_revenue) FROM credits_daily "
            "GROUP BY day, partner_id, event_name ORDER BY day, partner_id, event_name"
        ).result_rows
    ]


SPLIT = [
    (DAY.date(), "p1", "install", 0, 0, 0.0, 0.0, 0, 0, 0, 1, 0, 1.0, 0),
    (DAY.date(), "p1", "purchase", 0, 0, 0.0, 0.0, 0, 0, 0, 1, 1, 1.0, 600),
    (DAY.date(), "p2", "install", 1, 0, 1.0, 0.0, 0, 0, 0, 0, 0, 0.0, 0),
    (NEXT_DAY.date(), "p1", "install", 1, 0, 1.0, 0.0, 0, 0, 0, 0, 0, 0.0, 0),
]


def test_flagged_credits_are_counted_apart_from_the_credited_ones(ch_client: Client) -> None:
    ch_client.insert("attribution_credits", flagged_credits(), column_names=FLAGGED_COLUMNS)
    assert credit_split(ch_client) == SPLIT
    ch_client.command("OPTIMIZE TABLE credits_daily FINAL")  # a row of flagged only survives
    assert credit_split(ch_client) == SPLIT


def test_022_rebuilds_the_days_holding_flagged_credits(chdb_url: str, tmp_path: Path) -> None:
    """A store that recorded flagged credits before 022 (they counted as credited then) gets
    those days rebuilt with the split, other days untouched; running 022's statements again
    (a retry after a failure) gives the same rollup, and the new view takes over."""
    early = tmp_path / "early"
    early.mkdir()
    later = [p for p in sorted(MIGRATIONS_DIR.glob("*.sql")) if int(p.name[:3]) >= 22]
    for path in sorted(set(MIGRATIONS_DIR.glob("*.sql")) - set(later)):
        shutil.copy(path, early / path.name)
    name = random_name("flagged")
    client = connect(chdb_url, name)
    try:
        migrate(client, early)
        client.insert("attribution_credits", flagged_credits(), column_names=FLAGGED_COLUMNS)
        before = client.query(
            "SELECT sum(credits), sum(credited_revenue) FROM credits_daily WHERE day = {d:Date}",
            parameters={"d": DAY.date()},
        ).result_rows
        assert before == [(3, 600)]  # 005's view counted the flagged rows as credited
        # a mark on the untouched day: only days holding flagged credits are rewritten
        client.command(
            "INSERT INTO credits_daily (advertiser_id, day, model, partner_id, event_name, "
            "credits) VALUES ('adv', '2026-05-05', 'last_touch', 'p9', 'install', 7)"
        )
        applied = [m.version for m in migrate(client)]
        assert 22 in applied
        marked = [*SPLIT, (NEXT_DAY.date(), "p9", "install", 7, 0, 0.0, 0.0, 0, 0, 0, 0, 0, 0.0, 0)]
        assert credit_split(client) == marked
        (again,) = [m for m in discover() if m.version == 22]
        for statement in again.statements():
            client.command(statement)
        assert credit_split(client) == marked
        client.insert("attribution_credits", flagged_credits()[:1], column_names=FLAGGED_COLUMNS,
                      settings={"insert_deduplication_token": "after-022"})  # fmt: skip
        assert credit_split(client)[0] == (
            DAY.date(), "p1", "install", 0, 0, 0.0, 0.0, 0, 0, 0, 2, 0, 2.0, 0,
        )  # fmt: skip
    finally:
        client.command(f"DROP DATABASE IF EXISTS {name}")


def test_readme_example_queries_run_and_read_the_rollups(report_client: Client) -> None:
    """Every ```sql block of schemas/clickhouse/README.md runs on the reports' data set."""
    text = (MIGRATIONS_DIR / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```sql\n(.*?)```", text, re.S)
    assert len(blocks) >= 5
    results = [report_client.query(b.strip().rstrip(";")).result_rows for b in blocks]
    assert all(results), "every example should return rows on the data set"
    by_model = {str(row[0]): row[1] for row in results[2]}  # coupon-hub per model
    assert (by_model["last_touch"], by_model["linear"]) == (12001, 7334)
    # the two flagged-install examples (rocket-app, tests/services/reports/dataset.py)
    installs = {str(row[0]): list(row[1:]) for row in results[-2]}
    assert installs["floodnet"] == [3.0, 2.0, 0.4, 0, 400]
    assert installs["mobidream"] == [5.0, 0.0, 0.0, 999, 0]
    assert [list(row[:3]) for row in results[-1]] == [["floodnet", "click_flooding", 2]]
