"""The typed SKAdNetwork / AdAttributionKit columns of `events` (migration 031), as the
attributor's insert fills them: computed by ClickHouse from each row's payload."""

from __future__ import annotations

from typing import Any

import numpy as np
from clickhouse_connect.driver.client import Client

from schemas.events import Click, Context, EventBase, Install, Source
from services.attributor.decode import decode_records
from services.attributor.rows import event_columns
from services.attributor.sink import ClickHouseSink
from services.bus.records import Record
from services.store.migrations import MIGRATIONS_DIR
from tracker.apple import SkanPostback
from tracker.mobile import install_from_skan

NOW_MS = 1_795_428_000_000
APPLE_COLUMNS = (
    "conversion_value", "coarse_conversion_value", "apple_ad_network_id",
    "apple_postback_sequence_index", "apple_did_win", "apple_source_app_id",
    "apple_source_domain", "apple_conversion_type", "apple_interaction_type",
)  # fmt: skip


def skan(**changes: Any) -> SkanPostback:
    fields: dict[str, Any] = {
        "version": "4.0", "ad_network_id": "example123.skadnetwork", "source_identifier": "5239",
        "campaign_id": None, "app_id": 525463029, "transaction_id": "tx-1", "redownload": False,
        "source_app_id": None, "source_domain": "example.com", "fidelity_type": 0,
        "did_win": True, "postback_sequence_index": 0, "conversion_value": None,
        "coarse_conversion_value": "medium", "attribution_signature": "sig",
    }  # fmt: skip
    return SkanPostback(**{**fields, **changes})


def from_skan(source: Source = Source.SKAN, **changes: Any) -> Install:
    event = install_from_skan(
        skan(**changes), advertiser_id="rocket-app", app_id="id525463029", received_at_ms=NOW_MS
    )
    return event.model_copy(
        update={"context": Context(source=source), "advertiser_id": "rocket-app"}
    )


def stored(client: Client, events: list[tuple[EventBase, bytes | None]]) -> list[dict[str, Any]]:
    """Insert the events as the attributor does; a given payload replaces the event's own."""
    records = [
        Record(
            "events.v1",
            0,
            offset,
            b"k",
            payload or event.model_dump_json(exclude_none=True).encode(),
            NOW_MS,
        )
        for offset, (event, payload) in enumerate(events)
    ]
    batch = decode_records(records)
    columns = event_columns(batch, np.arange(batch.size))
    assert not set(APPLE_COLUMNS) & set(columns)  # left to the table's DEFAULT expressions
    ClickHouseSink(client).write("events", columns, "events|t:0:0-9")
    result = client.query(f"SELECT {', '.join(APPLE_COLUMNS)} FROM events ORDER BY kafka_offset")
    return [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]


def test_apple_installs_sdk_installs_and_other_events_get_their_columns(ch_client: Client) -> None:
    first = from_skan()
    later = from_skan(postback_sequence_index=1, coarse_conversion_value="high",
                      transaction_id="tx-1", did_win=True)  # fmt: skip
    old_style = from_skan(version="3.0", source_domain=None, source_app_id=1234567891,
                          postback_sequence_index=None, did_win=False, redownload=True,
                          conversion_value=12, coarse_conversion_value=None,
                          transaction_id="tx-old")  # fmt: skip
    # a row written before 031: the payload has no `apple` object, only sub1..sub5
    old_payload = old_style.model_dump_json(exclude_none=True, exclude={"apple"}).encode()
    sdk = Install(event_id="sdk-install-1", ts=NOW_MS, app_id="id525463029",
                  conversion_value=7, context=Context(source=Source.SDK))  # fmt: skip
    click = Click(event_id="click-0001", ts=NOW_MS, partner_id="p", campaign_id="c", sub1="x")
    rows = stored(ch_client, [(first, None), (later, None), (old_style, old_payload),
                              (sdk, None), (click, None)])  # fmt: skip
    blank = {"apple_ad_network_id": "", "apple_postback_sequence_index": None,
             "apple_did_win": None, "apple_source_app_id": None, "apple_source_domain": "",
             "apple_conversion_type": "", "apple_interaction_type": ""}  # fmt: skip
    assert rows == [
        {"conversion_value": None, "coarse_conversion_value": "medium",
         "apple_ad_network_id": "example123.skadnetwork", "apple_postback_sequence_index": 0,
         "apple_did_win": True, "apple_source_app_id": None,
         "apple_source_domain": "example.com", "apple_conversion_type": "download",
         "apple_interaction_type": "view"},
        {**rows[0], "coarse_conversion_value": "high", "apple_postback_sequence_index": 1},
        {"conversion_value": 12, "coarse_conversion_value": "",
         "apple_ad_network_id": "example123.skadnetwork", "apple_postback_sequence_index": 0,
         "apple_did_win": False, "apple_source_app_id": 1234567891, "apple_source_domain": "",
         "apple_conversion_type": "redownload", "apple_interaction_type": ""},
        {"conversion_value": 7, "coarse_conversion_value": "", **blank},
        {"conversion_value": None, "coarse_conversion_value": "", **blank},
    ]  # fmt: skip


def readme_query() -> str:
    """The indented example of schemas/clickhouse/README.md's Apple section."""
    text = (MIGRATIONS_DIR / "README.md").read_text(encoding="utf-8")
    section = text.split("## SKAdNetwork and AdAttributionKit installs (031)")[1].split("\n## ")[0]
    lines = [line[4:] for line in section.splitlines() if line.startswith("    ")]
    assert lines[0].startswith("SELECT")
    return "\n".join(lines)


def test_the_readme_query_counts_won_first_postbacks_by_source_and_coarse_value(
    ch_client: Client,
) -> None:
    events: list[tuple[EventBase, bytes | None]] = [
        (from_skan(transaction_id="a", coarse_conversion_value="low"), None),
        (from_skan(transaction_id="b", coarse_conversion_value="low"), None),
        (from_skan(transaction_id="c", coarse_conversion_value="high", source_identifier="77"),
         None),
        (from_skan(transaction_id="a", postback_sequence_index=1), None),  # a later postback
        (from_skan(transaction_id="d", did_win=False), None),  # a losing network's copy
        (from_skan(source=Source.AAK, transaction_id="e", coarse_conversion_value=None,
                   conversion_value=5), None),
    ]  # fmt: skip
    stored(ch_client, events)
    result = ch_client.query(readme_query())
    assert result.result_rows == [("5239", "", 1), ("5239", "low", 2), ("77", "high", 1)]
