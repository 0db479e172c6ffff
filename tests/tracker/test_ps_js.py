"""tracker/static/ps.js: size, and behaviour under node with stubbed browser objects.

The beacon body and the pixel query are also fed to the collector's own parsers
(tracker.sdk_batches, tracker.pixels, schemas.events) so the snippet and the server agree.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from schemas.events import Conversion, parse_event
from tracker.pixels import conversion_from_pixel
from tracker.sdk_batches import parse_batch_body, validate_item

ROOT = Path(__file__).resolve().parents[2]
PS_JS = ROOT / "tracker" / "static" / "ps.js"
HARNESS = Path(__file__).with_name("ps_harness.js")
NODE = shutil.which("node")
CID = "AQIBi8_laABPj9T8qa9MUZZ6oFtGC_e9MTIzNDU2NzjhFRKcO0cgjqd3hXA"
NOW = 1_750_000_000_000
THIRTY_DAYS_MS = 30 * 86_400_000
INIT = {"writeKey": "dev-acme-write-key", "endpoint": "https://collect.example.com/"}
ORDER = {"event": "purchase", "order_id": "A-1001", "amount": 49.9, "currency": "EUR"}
UUID = "0190c7a2-0000-4000-8000-000000000001"


def test_file_exists_and_is_small() -> None:
    text = PS_JS.read_text()
    code = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    code = re.sub(r"\s//[^\n]*", "", code)
    code = re.sub(r"\s+", " ", code)
    assert len(code.encode()) < 2048, "code without comments must stay under 2 KB"
    assert len(text.encode()) < 4096
    assert "ps.convert(" in text  # usage documented in the header
    assert "ps.init(" in text


def run(**scenario: Any) -> dict[str, Any]:
    if NODE is None:
        pytest.skip("node is not on PATH")
    scenario.setdefault("href", f"https://shop.example.com/landing?x=1&clickid={CID}")
    scenario.setdefault("beacon", "ok")
    scenario.setdefault("now", NOW)
    done = subprocess.run(
        [NODE, str(HARNESS), str(PS_JS), json.dumps(scenario)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    assert result["hasPs"]
    return result


def beacon_event(out: dict[str, Any]) -> dict[str, Any]:
    (beacon,) = out["beacons"]
    assert beacon["url"] == "https://collect.example.com/v1/events"
    assert beacon["type"] == "string"  # a string body is sent as text/plain: no preflight
    body = json.loads(beacon["data"])
    assert body["write_key"] == "dev-acme-write-key"
    (event,) = body["events"]
    assert isinstance(event, dict)
    return event


def pixel_params(out: dict[str, Any]) -> dict[str, str]:
    (src,) = out["images"]
    url = urlsplit(src)
    assert (url.scheme, url.netloc, url.path) == ("https", "collect.example.com", "/p.gif")
    return dict(parse_qsl(url.query))


def test_init_stores_click_id_in_cookie_and_local_storage() -> None:
    out = run(init=INIT)
    assert out["init"] == CID
    (cookie,) = out["cookieWrites"]
    assert cookie.startswith(f"ps_clickid={CID};")
    assert "Max-Age=2592000" in cookie
    assert "Path=/" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" in cookie
    assert out["storage"] == {"ps_clickid": f"{CID} {NOW + THIRTY_DAYS_MS}"}


def test_no_secure_cookie_on_http_pages() -> None:
    out = run(init=INIT, href=f"http://localhost:8000/?clickid={CID}")
    assert "Secure" not in out["cookieWrites"][0]


def test_convert_sends_a_text_beacon_with_one_conversion() -> None:
    out = run(init=INIT, convert=ORDER)
    assert out["convert"] is True
    assert beacon_event(out) == {
        "type": "conversion",
        "event_name": "purchase",
        "ts": NOW,
        "event_id": UUID,
        "click_id": CID,
        "order_id": "A-1001",
        "revenue": 4990,
        "currency": "EUR",
    }
    assert out["images"] == []


def test_beacon_body_is_accepted_by_the_collector_parsers() -> None:
    out = run(init=INIT, convert=ORDER)
    batch = parse_batch_body(out["beacons"][0]["data"].encode())
    assert batch.write_key == "dev-acme-write-key"
    event = validate_item(batch.items[0], max_event_bytes=32_768, check_size=True)
    assert isinstance(event, Conversion)
    assert (event.event_name, event.revenue, event.currency) == ("purchase", 4990, "EUR")
    assert event.click_id == CID
    assert event.event_id == UUID


@pytest.mark.parametrize(
    ("amount", "currency", "revenue"),
    [
        (49.9, "EUR", 4990),
        ("12.50", "USD", 1250),
        (19.99, "usd", 1999),
        (0.1 + 0.2, "EUR", 30),
        (1200, "JPY", 1200),
        (5000, "KRW", 5000),
        (1.25, "KWD", 1250),
        (0, "EUR", 0),
    ],
)
def test_amount_becomes_minor_units(amount: float | str, currency: str, revenue: int) -> None:
    out = run(init=INIT, convert={"event": "purchase", "amount": amount, "currency": currency})
    event = beacon_event(out)
    assert event["revenue"] == revenue
    assert event["currency"] == currency.upper()


def test_currency_defaults_to_the_init_currency() -> None:
    out = run(init={**INIT, "currency": "jpy"}, convert={"event": "purchase", "amount": 980})
    event = beacon_event(out)
    assert (event["revenue"], event["currency"]) == (980, "JPY")


def test_event_without_amount_has_no_revenue_fields() -> None:
    out = run(init=INIT, convert={"event": "Sign_Up"}, href="https://shop.example.com/")
    event = beacon_event(out)
    assert event == {"type": "conversion", "event_name": "sign_up", "ts": NOW, "event_id": UUID}


def test_no_event_id_without_crypto_random_uuid() -> None:
    out = run(init=INIT, convert=ORDER, noRandomUUID=True)
    assert "event_id" not in beacon_event(out)


@pytest.mark.parametrize("beacon", ["refuse", "missing", "throw"])
def test_falls_back_to_the_pixel(beacon: str) -> None:
    out = run(init=INIT, convert=ORDER, beacon=beacon)
    assert out["convert"] is True
    assert pixel_params(out) == {
        "key": "dev-acme-write-key",
        "event": "purchase",
        "order_id": "A-1001",
        "amount": "49.9",
        "currency": "EUR",
        "clickid": CID,
    }


@pytest.mark.parametrize(
    ("conversion", "amount"),
    [
        ({"event": "purchase", "amount": "12.50"}, "12.50"),  # no currency known here
        ({"event": "purchase", "amount": "12,50", "currency": "EUR"}, "12,50"),  # not a number
    ],
)
def test_amounts_the_snippet_cannot_convert_go_to_the_pixel(
    conversion: dict[str, Any], amount: str
) -> None:
    out = run(init=INIT, convert=conversion)
    assert out["beacons"] == []
    assert pixel_params(out)["amount"] == amount


def test_pixel_query_is_accepted_by_the_collector_parser() -> None:
    out = run(init=INIT, convert=ORDER, beacon="refuse")
    params = pixel_params(out)
    raw = conversion_from_pixel(params, ts_ms=NOW, cookie_click_id=None, default_currency="USD")
    event = parse_event(raw)
    assert isinstance(event, Conversion)
    assert (event.event_name, event.revenue, event.currency) == ("purchase", 4990, "EUR")
    assert (event.order_id, event.click_id) == ("A-1001", CID)


def test_pixel_leaves_out_missing_fields() -> None:
    href = "https://shop.example.com/"
    out = run(init=INIT, convert={"event": "signup"}, beacon="missing", href=href)
    assert pixel_params(out) == {"key": "dev-acme-write-key", "event": "signup"}


def test_convert_before_init_or_without_event_sends_nothing() -> None:
    assert run(convert=ORDER)["convert"] is False
    out = run(init=INIT, convert={"order_id": "A-1"})
    assert out["convert"] is False
    assert out["beacons"] == []
    assert out["images"] == []


def test_custom_parameter_name() -> None:
    out = run(init={**INIT, "param": "ps_click"}, href=f"https://shop.example.com/?ps_click={CID}")
    assert out["init"] == CID
    out = run(init={**INIT, "param": "ps_click"})  # clickid= is not the configured parameter
    assert out["init"] is None


def test_later_page_reads_the_stored_click_id() -> None:
    out = run(
        init=INIT,
        convert=ORDER,
        href="https://shop.example.com/thanks",
        storage={"ps_clickid": f"{CID} {NOW + 1000}"},
    )
    assert beacon_event(out)["click_id"] == CID
    assert out["cookieWrites"] == []


def test_expired_storage_falls_back_to_cookie_then_nothing() -> None:
    expired = {"ps_clickid": f"{CID} {NOW - 1}"}
    href = "https://shop.example.com/thanks"
    assert run(init=INIT, href=href, storage=expired)["clickId"] is None
    out = run(init=INIT, href=href, storage=expired, cookie=f"a=b; ps_clickid={CID}")
    assert out["clickId"] == CID


def test_cookie_only_when_local_storage_is_blocked() -> None:
    out = run(init=INIT, storageThrows=True)
    assert out["init"] == CID
    assert out["clickId"] == CID


def test_newer_click_replaces_older_one() -> None:
    out = run(init=INIT, storage={"ps_clickid": f"older-click-id-123 {NOW + 1000}"})
    assert out["storage"]["ps_clickid"].split(" ")[0] == CID


@pytest.mark.parametrize("bad", ["%3Cscript%3E", "short", "a%20b%20c%20d%20e"])
def test_junk_click_ids_are_not_stored(bad: str) -> None:
    out = run(init=INIT, href=f"https://shop.example.com/?clickid={bad}")
    assert out["init"] is None
    assert out["cookieWrites"] == []
    assert out["storage"] == {}
