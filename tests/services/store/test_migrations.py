from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client

from services.errors import ConfigError, MigrationError
from services.store.clickhouse import connect, database_from_url, embedded_path, redact
from services.store.migrations import discover, migrate
from tests.conftest import random_name

TABLES = {"events", "rejected_events", "attribution_credits", "payouts", "schema_migrations"}


def test_migrations_apply_once_then_nothing(chdb_url: str) -> None:
    client = connect(chdb_url, random_name("m"))
    first = migrate(client)
    assert [m.version for m in first] == [m.version for m in discover()]
    assert migrate(client) == []  # idempotent
    tables = {r[0] for r in client.query("SHOW TABLES").result_rows}
    assert tables >= TABLES
    versions = client.query("SELECT count(), uniqExact(version) FROM schema_migrations FINAL")
    assert versions.result_rows[0] == (len(first), len(first))


def test_insert_and_query_through_clickhouse_connect(ch_client: Client) -> None:
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    ch_client.insert(
        "payouts",
        [
            [
                "c1",
                now,
                "acme",
                "p1",
                "affiliate",
                "k1",
                2,
                "cpa",
                "closer",
                "last_touch",
                500,
                "EUR",
                now,
            ]
        ],
        column_names=[
            "conversion_id",
            "conversion_ts",
            "advertiser_id",
            "partner_id",
            "partner_type",
            "contract_id",
            "contract_version",
            "payout_type",
            "role",
            "model",
            "amount",
            "currency",
            "created_at",
        ],
    )
    rows = ch_client.query("SELECT partner_id, sum(amount) FROM payouts GROUP BY partner_id")
    assert rows.result_rows == [("p1", 500)]


def test_retried_insert_with_same_token_is_applied_once(ch_client: Client) -> None:
    now = datetime(2026, 11, 23, tzinfo=UTC)
    row = [["r1", now, "/v1/events", "sdk", "acme", "invalid_json", "x", 400, "{", "", 0, 0]]
    columns = [
        "rejected_id",
        "received_at",
        "endpoint",
        "source",
        "advertiser_id",
        "reason",
        "detail",
        "status_code",
        "raw",
        "kafka_topic",
        "kafka_partition",
        "kafka_offset",
    ]
    for _ in range(3):
        ch_client.insert(
            "rejected_events",
            row,
            column_names=columns,
            settings={"insert_deduplication_token": "events.v1-0-0-9"},
        )
    assert ch_client.query("SELECT count() FROM rejected_events").result_rows == [(1,)]


def test_edited_migration_is_refused(chdb_url: str, tmp_path: Path) -> None:
    (tmp_path / "001_one.sql").write_text(
        "CREATE TABLE IF NOT EXISTS one (a UInt8) ENGINE = MergeTree ORDER BY a;\n"
    )
    client = connect(chdb_url, random_name("m"))
    assert [m.name for m in migrate(client, tmp_path)] == ["one"]
    (tmp_path / "001_one.sql").write_text(
        "CREATE TABLE IF NOT EXISTS one (b UInt8) ENGINE = MergeTree ORDER BY b;\n"
    )
    with pytest.raises(MigrationError, match="changed after it was applied"):
        migrate(client, tmp_path)


def test_badly_named_migration_is_refused(tmp_path: Path) -> None:
    (tmp_path / "one.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match=r"NNN_name\.sql"):
        discover(tmp_path)


def test_failing_migration_names_itself(chdb_url: str, tmp_path: Path) -> None:
    (tmp_path / "001_broken.sql").write_text("CREATE TABLE nonsense (;\n")
    with pytest.raises(MigrationError, match="001_broken failed"):
        migrate(connect(chdb_url, random_name("m")), tmp_path)


def test_url_helpers() -> None:
    assert embedded_path("chdb:///tmp/x") == Path("/tmp/x")
    assert database_from_url("http://u:p@h:8123/analytics") == "analytics"
    assert database_from_url("chdb:///tmp/x") is None
    assert redact("http://u:secret@h:8123/db") == "http://u:***@h:8123/db"
    with pytest.raises(ConfigError, match="must start with"):
        connect("mysql://h/db")
    with pytest.raises(ConfigError, match="identifier"):
        connect("chdb:///tmp/x", "bad-name; DROP")


def test_inserts_compress_payloads_cheaply_and_order_lookups_use_an_index(
    ch_client: Client,
) -> None:
    """Migration 032: ZSTD(1) on the bulky event columns; a bloom filter on credits' order id
    (the reversal look-up, services/attributor/reversals.py CREDIT_QUERY)."""
    from services.attributor.reversals import CREDIT_QUERY

    codecs = dict(
        ch_client.query(
            "SELECT name, compression_codec FROM system.columns WHERE database = "
            "currentDatabase() AND table = 'events' AND name IN ('payload', 'user_agent')"
        ).result_rows
    )
    assert codecs == {"payload": "CODEC(ZSTD(1))", "user_agent": "CODEC(ZSTD(1))"}
    ch_client.command(
        "INSERT INTO attribution_credits (conversion_id, advertiser_id, order_id, model) "
        "SELECT toString(number), 'acme', concat('o-', toString(number)), 'last_touch' "
        "FROM numbers(50000)"
    )
    query = CREDIT_QUERY.replace("{orders:Array(String)}", "['o-7']").replace(
        "{advertisers:Array(String)}", "['acme']"
    )
    plan = "\n".join(r[0] for r in ch_client.query("EXPLAIN indexes = 1 " + query).result_rows)
    assert "credits_order_id_bf" in plan
    rows = ch_client.query(query).result_rows
    assert [r[0] for r in rows] == ["7"]
