from __future__ import annotations

import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from services.bus.memory_bus import MemoryProducer
from services.clock import FixedClock
from services.collector.app import create_app
from services.settings import CollectorSettings
from tests.services.collector.conftest import NOW_MS, keys, sent
from tracker.click_ids import SecretRing, verify_click_id
from tracker.registry import Registry

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def test_click_redirects_with_signed_click_id_and_records_the_click(
    client: TestClient, producer: MemoryProducer
) -> None:
    r = client.get("/c/coupon-hub/acme-summer-sale?sub1=deal42", headers={"user-agent": CHROME})
    assert r.status_code == 302
    target = urlsplit(r.headers["location"])
    assert (target.scheme, target.netloc, target.path) == (
        "https",
        "shop.example.com",
        "/summer-sale",
    )
    query = parse_qs(target.query)
    assert query["utm_source"] == ["partners"]
    click_id = query["clickid"][0]
    cookie = r.headers["set-cookie"]
    assert "ps_vid=" in cookie
    assert "HttpOnly" in cookie
    assert "Secure" in cookie
    assert "samesite=lax" in cookie.lower()
    visitor = r.cookies["ps_vid"]

    [event] = sent(producer)
    assert event["type"] == "click"
    assert event["partner_id"] == "coupon-hub"
    assert event["partner_type"] == "affiliate"
    assert event["advertiser_id"] == "acme-shop"
    assert event["sub1"] == "deal42"
    assert event["click_id"] == click_id
    assert event["visitor_id"] == visitor
    assert event["context"]["source"] == "link"
    assert event["context"]["is_bot"] is False
    assert keys(producer) == [f"v:{visitor}".encode()]
    ring = SecretRing.parse("1:dev-insecure-click-secret-change-me")
    claims = verify_click_id(ring, click_id, 1_795_428_000_000, 10**10)
    assert str(claims.visitor_id) == visitor
    assert str(claims.event_id) == event["event_id"]


def test_returning_visitor_keeps_its_id(client: TestClient, producer: MemoryProducer) -> None:
    visitor = str(uuid.uuid4())
    client.cookies.set("ps_vid", visitor)
    r = client.get("/c/coupon-hub/acme-summer-sale")
    assert r.status_code == 302
    assert "set-cookie" not in r.headers
    assert sent(producer)[0]["visitor_id"] == visitor


def test_campaign_click_param_name_is_used(client: TestClient) -> None:
    r = client.get("/c/coupon-hub/acme-newsletter")
    location = r.headers["location"]
    assert "ps_click=" in location
    assert location.endswith("#signup")


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/c/nobody/acme-summer-sale", "partner_unknown"),
        ("/c/coupon-hub/nothing", "campaign_unknown"),
    ],
)
def test_unknown_partner_or_campaign_is_404_and_nothing_redirected(
    client: TestClient, producer: MemoryProducer, path: str, reason: str
) -> None:
    r = client.get(path)
    assert r.status_code == 404
    assert r.json()["error"] == reason
    assert "location" not in r.headers
    assert sent(producer) == []


def test_allowed_override_url_is_honoured(client: TestClient) -> None:
    r = client.get(
        "/c/coupon-hub/acme-summer-sale",
        params={"url": "https://www.example.com/product/9?color=red"},
    )
    assert r.status_code == 302
    assert r.headers["location"].startswith("https://www.example.com/product/9?color=red&clickid=")


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.com/",
        "//evil.com/",
        "https:/\\evil.com",
        "https://shop.example.com@evil.com/",
        "https://shop.example.com.evil.com/",
        "https://evil-example.com/",
        "javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "https://xn--shp-example-8ib.com/",
        "http://127.0.0.1/",
        "https://shop.example.com%2f%2fevil.com",
        "https://evil.com\\@shop.example.com",
    ],
)
def test_open_redirect_tricks_are_refused(
    client: TestClient, producer: MemoryProducer, url: str
) -> None:
    r = client.get("/c/coupon-hub/acme-summer-sale", params={"url": url})
    assert r.status_code == 400, url
    assert r.json()["error"] == "redirect_not_allowed"
    assert "location" not in r.headers
    assert sent(producer) == []


def test_bot_clicks_are_recorded_with_a_flag_and_still_redirected(
    client: TestClient, producer: MemoryProducer
) -> None:
    r = client.get("/c/coupon-hub/acme-summer-sale", headers={"user-agent": GOOGLEBOT})
    assert r.status_code == 302
    [event] = sent(producer)
    assert event["context"]["is_bot"] is True
    assert event["context"]["bot_name"]


def test_impression_pixel_answers_gif_and_records(
    client: TestClient, producer: MemoryProducer
) -> None:
    r = client.get("/i/style-by-mia/acme-summer-sale", headers={"user-agent": CHROME})
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/gif"
    assert r.content.startswith(b"GIF89a")
    assert "no-store" in r.headers["cache-control"]
    [event] = sent(producer)
    assert (event["type"], event["partner_type"]) == ("impression", "influencer")


def test_impression_for_unknown_partner_is_dead_lettered_but_answers_gif(
    client: TestClient, producer: MemoryProducer
) -> None:
    r = client.get("/i/nobody/acme-summer-sale")
    assert r.status_code == 200
    assert r.headers["x-partnerstream-rejected"] == "partner_unknown"
    assert sent(producer) == []
    [letter] = sent(producer, "events.dlq.v1")
    assert letter["reason"] == "partner_unknown"
    assert "/i/nobody/acme-summer-sale" in letter["raw"]


def test_bus_failure_answers_503_not_a_redirect(
    client: TestClient, producer: MemoryProducer
) -> None:
    from services.bus.errors import BusUnavailable

    producer.fail_with = BusUnavailable("down")
    r = client.get("/c/coupon-hub/acme-summer-sale")
    assert r.status_code == 503
    assert r.headers["retry-after"] == "1"


def test_client_ip_is_anonymised_to_24_and_forwarded_for_only_when_trusted(
    registry: Registry, producer: MemoryProducer, clock: FixedClock
) -> None:
    for trusted, expected in ((True, "203.0.113.0"), (False, None)):
        producer.records.clear()
        settings = CollectorSettings(trust_forwarded_for=trusted)
        app = create_app(settings, registry=registry, producer=producer, clock=clock)
        with TestClient(app, follow_redirects=False) as c:
            c.get(
                "/c/coupon-hub/acme-summer-sale",
                headers={"x-forwarded-for": "203.0.113.77, 10.0.0.1"},
            )
        [event] = sent(producer)
        assert event["context"].get("ip") == expected  # "testclient" is not an address


def test_link_and_pixel_events_are_the_same_bytes_with_or_without_the_fast_encoder(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Clicks, impressions and pixel conversions go through the fast canonicaliser when
    plain; the pydantic path (fast items off) must give byte-identical records and letters,
    including a sub-parameter pydantic strips and an over-long sub that is refused."""
    from services.collector.routes import links

    monkeypatch.setattr(links, "random_bytes", lambda n: bytes(range(n)))
    visitor = "ps_vid=" + str(uuid.UUID(int=42))
    requests = [
        ("/c/coupon-hub/acme-summer-sale?sub1=deal42&sub2=%20padded%20", CHROME),
        ("/c/style-by-mia/acme-summer-sale", GOOGLEBOT),
        ("/i/coupon-hub/acme-summer-sale?sub3=banner-7", CHROME),
        ("/i/nobody/acme-summer-sale", CHROME),
        ("/p.gif?key=dev-acme-write-key&event=purchase&order_id=A1&amount=12.50", CHROME),
        ("/p.gif?key=dev-acme-write-key&event=purchase&order_id=%20A2%20&amount=3", CHROME),
        ("/p.gif?key=dev-acme-write-key&event=Big%20Purchase", CHROME),
    ]
    runs = []
    for fast in (True, False):
        producer = MemoryProducer()
        settings = CollectorSettings(rate_limit_per_second=1000, rate_limit_burst=1000)
        app = create_app(settings, registry=registry, producer=producer, clock=FixedClock(NOW_MS))
        app.state.deps.intake.fast_items = fast
        app.state.deps.intake.new_id = iter(f"server-id-{n:04d}" for n in range(99)).__next__
        answers = []
        with TestClient(app, base_url="https://collector.test", follow_redirects=False) as client:
            for path, ua in requests:
                r = client.get(path, headers={"user-agent": ua, "cookie": visitor})
                answers.append((r.status_code, r.headers.get("location"), r.content))
        runs.append((answers, dict(producer.records)))
    fast_run, pydantic_run = runs
    assert fast_run == pydantic_run
    records = fast_run[1]
    assert len(records["events.v1"]) == 5
    assert len(records["events.dlq.v1"]) == 2
