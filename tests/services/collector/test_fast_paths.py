"""The hot paths served in front of FastAPI answer exactly as the documented FastAPI routes.

Every case runs twice, with `fast_paths` on (the default) and off (FastAPI's own routes),
and the answers, the recorded events and the dead letters must be the same but for the
values that are random per request (ids, nonces, the click id that signs them).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

import orjson
import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from starlette.requests import Request

from services.bus.memory_bus import MemoryProducer
from services.clock import FixedClock
from services.collector.app import create_app
from services.collector.fast_paths import CollectorApp
from services.collector.lean_request import LeanRequest, parse_query
from services.settings import CollectorSettings
from tests.services.collector.conftest import NOW_MS
from tracker.registry import Registry

CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"
RANDOM = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|AQ[A-Za-z0-9_-]{57}"
)

CASES: list[tuple[str, dict[str, str]]] = [
    ("/c/coupon-hub/acme-summer-sale?sub1=deal42&sub5=x", {}),
    ("/c/coupon-hub/acme-summer-sale", {"cookie": "ps_vid=0192a7c4-1234-7abc-8def-0123456789ab"}),
    ("/c/coupon-hub/acme-summer-sale?url=https%3A%2F%2Fshop.example.com%2Fshoes", {}),
    ("/c/coupon-hub/acme-summer-sale?url=https%3A%2F%2Fevil.example%2F", {}),  # 400
    ("/c/coupon-hub/acme-summer-sale?url=%2F%2Fevil.example", {}),  # 400
    ("/c/nobody/acme-summer-sale", {}),  # 404 partner
    ("/c/coupon-hub/no-such-campaign", {}),  # 404 campaign
    ("/c/coupon-hub/acme-summer-sale?sub2=" + "x" * 256, {}),  # 422
    ("/c/coupon-hub/acme-summer-sale?sub1=a&sub1=b", {"x-forwarded-proto": "https"}),
    ("/i/style-by-mia/acme-newsletter?sub3=story", {"sec-gpc": "1"}),
    ("/i/nobody/acme-newsletter", {}),  # the GIF, dead-lettered
    ("/i/style-by-mia/acme-newsletter?gdpr=1&gdpr_consent=CPXxRfAPXxRfAAfKABENB", {}),
    ("/p.gif?key=dev-acme-write-key&event=purchase&order_id=A1&amount=12.50&currency=EUR", {}),
    (
        "/p.gif?key=dev-acme-write-key&event=purchase&order_id=A2&amount=1",
        {"referer": "https://a/"},
    ),
    ("/p.gif?key=wrong-key-wrong-key&event=purchase&order_id=A3&amount=1", {}),  # refused
    ("/p.gif?key=dev-acme-write-key&event=purchase&amount=-5", {}),  # invalid amount
    ("/p.gif?key=dev-acme-write-key&clickid=forged", {}),  # forged click id
    ("/p.gif?key=dev-acme-write-key&event=signup", {"cookie": "ps_clickid=junk; a=b"}),
]


@pytest.fixture(params=[True, False], ids=["fast", "fastapi"])
def served(
    request: pytest.FixtureRequest, registry: Registry
) -> Iterator[tuple[TestClient, MemoryProducer]]:
    settings = CollectorSettings(
        rate_limit_per_second=1000, rate_limit_burst=1000, fast_paths=request.param
    )
    producer = MemoryProducer()
    app = create_app(settings, registry=registry, producer=producer, clock=FixedClock(NOW_MS))
    assert isinstance(app, CollectorApp)
    assert (app.fast_paths is not None) is request.param
    with TestClient(app, base_url="http://collector.test", follow_redirects=False) as client:
        yield client, producer


def _scrub(text: str) -> str:
    return RANDOM.sub("<random>", text)


Answer = tuple[int, dict[str, str], str, dict[str, list[str]]]


def _answer(
    client: TestClient, producer: MemoryProducer, path: str, headers: dict[str, str]
) -> Answer:
    response = client.get(path, headers={"user-agent": CHROME, **headers})
    records = {
        topic: [_scrub(orjson.loads(value).__repr__()) for _, value in items]
        for topic, items in producer.records.items()
    }
    producer.records.clear()
    kept = {
        name: _scrub(value)
        for name, value in response.headers.items()
        if name not in ("date", "server", "content-length")
    }
    return response.status_code, kept, _scrub(response.text), records


def _all_answers(client: TestClient, producer: MemoryProducer) -> list[Answer]:
    return [_answer(client, producer, path, headers) for path, headers in CASES]


@pytest.fixture(scope="module")
def fastapi_answers(registry: Registry) -> list[Answer]:
    settings = CollectorSettings(
        rate_limit_per_second=1000, rate_limit_burst=1000, fast_paths=False
    )
    producer = MemoryProducer()
    app = create_app(settings, registry=registry, producer=producer, clock=FixedClock(NOW_MS))
    with TestClient(app, base_url="http://collector.test", follow_redirects=False) as client:
        return _all_answers(client, producer)


def test_fast_paths_answer_like_the_fastapi_routes(
    registry: Registry, fastapi_answers: list[Answer]
) -> None:
    producer = MemoryProducer()
    app = create_app(
        CollectorSettings(rate_limit_per_second=1000, rate_limit_burst=1000),
        registry=registry,
        producer=producer,
        clock=FixedClock(NOW_MS),
    )
    with TestClient(app, base_url="http://collector.test", follow_redirects=False) as client:
        fast = _all_answers(client, producer)
    statuses = [answer[0] for answer in fast]
    assert statuses == [302, 302, 302, 400, 400, 404, 404, 422, 302] + [200] * 9
    for (path, _), ours, theirs in zip(CASES, fast, fastapi_answers, strict=True):
        status, headers, body, records = ours
        if status == 422:  # FastAPI's validation body differs; both refuse, ours says why
            assert theirs[0] == 422
            assert orjson.loads(body) == {
                "error": "invalid_parameter",
                "detail": "query parameter 'sub2' is longer than 255 characters",
            }
            assert records == theirs[3] == {}
            continue
        assert (status, headers, body, records) == theirs, path


def test_metrics_count_the_fast_paths_by_route_template(
    served: tuple[TestClient, MemoryProducer],
) -> None:
    client, _ = served
    client.get("/c/coupon-hub/acme-summer-sale")
    client.get("/c/nobody/acme-summer-sale")
    client.get("/p.gif?key=dev-acme-write-key&event=purchase&order_id=M1&amount=1")
    text = client.get("/metrics").text
    assert 'route="/c/{partner_id}/{campaign_id}",status="302"} 1.0' in text
    assert 'route="/c/{partner_id}/{campaign_id}",status="404"} 1.0' in text
    assert 'route="/p.gif",status="200"} 1.0' in text


@pytest.mark.parametrize(
    "path",
    ["/c/coupon-hub", "/c/coupon-hub/", "/c//acme-summer-sale", "/c/a/b/c", "/i/x", "/p.gifx"],
)
def test_other_shapes_fall_through_to_fastapi(
    served: tuple[TestClient, MemoryProducer], path: str
) -> None:
    client, producer = served
    assert client.get(path).status_code == 404
    assert producer.records.get("events.v1", []) == []


def test_other_methods_fall_through_to_fastapi(served: tuple[TestClient, MemoryProducer]) -> None:
    client, producer = served
    assert client.post("/c/coupon-hub/acme-summer-sale").status_code == 405
    assert producer.records.get("events.v1", []) == []


def _scope(query: bytes, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http",
        "method": "GET",
        "scheme": "https",
        "path": "/p.gif",
        "query_string": query,
        "headers": headers,
        "client": ("203.0.113.9", 4711),
        "server": ("collector.test", 443),
        "root_path": "",
    }


@pytest.mark.parametrize(
    ("query", "headers"),
    [
        (b"", []),
        (b"a=1&a=2&b=&c", [(b"user-agent", b"UA"), (b"user-agent", b"second")]),
        (b"x=%E2%82%AC+y&z=%zz", [(b"cookie", b'ps_vid=abc; ps_clickid="q"; junk')]),
        (b"gdpr=1&gdpr_consent=CPX", [(b"sec-gpc", b"1"), (b"referer", b"https://r/")]),
    ],
)
def test_lean_request_reads_what_starlette_reads(
    query: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    scope = _scope(query, headers)
    lean, starlette = LeanRequest(scope), Request(scope)
    assert lean.query_params == dict(starlette.query_params)
    for name in ("user-agent", "cookie", "sec-gpc", "referer", "absent"):
        assert lean.headers.get(name) == starlette.headers.get(name)
    assert lean.cookies == starlette.cookies
    assert lean.client == starlette.client


@given(
    st.lists(
        st.tuples(
            st.text(alphabet="ab=&+% 2E%C3%A9\xe9x", max_size=6),
            st.text(alphabet="ab=&+%2E%C3%A9\xe9 ", max_size=8),
        ),
        max_size=5,
    ).map(lambda pairs: "&".join(f"{n}={v}" if v else n for n, v in pairs))
)
def test_parse_query_equals_parse_qsl(query: str) -> None:
    assert parse_query(query) == dict(parse_qsl(query, keep_blank_values=True))


def test_redirects_skip_quoting_only_what_quote_leaves_unchanged() -> None:
    from urllib.parse import quote

    from services.collector.responses import _NEEDS_NO_QUOTING, REDIRECT_SAFE, redirect_response

    for code in range(0x250):
        char = chr(code)
        assert bool(_NEEDS_NO_QUOTING(char)) == (quote(char, safe=REDIRECT_SAFE) == char)
    for url in ("https://shop.example/a b?q=é#x", "https://s.example/p?clickid=AZaz09-_"):
        location = dict(redirect_response(url).raw_headers)[b"location"].decode("latin-1")
        assert location == quote(url, safe=REDIRECT_SAFE)


_EVENT = {"type": "click", "ts": NOW_MS - 5, "partner_id": "coupon-hub", "campaign_id": "c1"}
SDK_CASES: list[tuple[bytes, dict[str, str]]] = [
    (
        orjson.dumps({"events": [_EVENT, {"type": "nope"}]}),
        {"authorization": "Bearer dev-acme-write-key"},
    ),
    (
        orjson.dumps({"write_key": "dev-acme-write-key", "events": [_EVENT]}),
        {"content-type": "text/plain"},
    ),
    (
        orjson.dumps({"events": [_EVENT]}),
        {"authorization": "Bearer dev-acme-write-key", "origin": "https://shop.example.com"},
    ),
    (
        orjson.dumps({"events": [_EVENT]}),
        {"authorization": "Bearer dev-acme-write-key", "origin": "https://evil.example"},
    ),
    (orjson.dumps({"events": [_EVENT]}), {}),  # 401
    (b"{not json", {"authorization": "Bearer dev-acme-write-key"}),  # 400
    (b"x" * 600_000, {"authorization": "Bearer dev-acme-write-key"}),  # 413
]


def test_sdk_batches_answer_like_the_fastapi_route(registry: Registry) -> None:
    runs = []
    for fast in (True, False):
        settings = CollectorSettings(
            rate_limit_per_second=1000, rate_limit_burst=1000, fast_paths=fast
        )
        producer = MemoryProducer()
        app = create_app(settings, registry=registry, producer=producer, clock=FixedClock(NOW_MS))
        answers = []
        with TestClient(app, base_url="http://collector.test") as client:
            for body, headers in SDK_CASES:
                r = client.post(
                    "/v1/events", content=body, headers={"user-agent": CHROME, **headers}
                )
                kept = {k: _scrub(v) for k, v in r.headers.items() if k not in ("date", "server")}
                answers.append((r.status_code, kept, _scrub(r.text)))
            metrics = [
                line
                for line in client.get("/metrics").text.splitlines()
                if line.startswith('partnerstream_http_requests_total{route="/v1/events"')
            ]
        records = {
            t: [_scrub(v.decode()) for _, v in items] for t, items in producer.records.items()
        }
        runs.append((answers, records, metrics))
    fast_run, fastapi_run = runs
    assert [a[0] for a in fast_run[0]] == [200, 200, 200, 403, 401, 400, 413]
    assert fast_run == fastapi_run


async def test_sdk_fast_path_reads_a_chunked_body_and_refuses_it_past_the_limit(
    registry: Registry,
) -> None:
    settings = CollectorSettings(rate_limit_per_second=1000, rate_limit_burst=1000)
    producer = MemoryProducer()
    app = create_app(settings, registry=registry, producer=producer, clock=FixedClock(NOW_MS))
    await producer.start()  # what the app's lifespan does
    sent: list[MutableMapping[str, Any]] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    body = orjson.dumps({"events": [_EVENT] * 3})
    for chunks, status in (([body[:10], body[10:40], body[40:]], 200), ([b" " * 400_000] * 2, 413)):
        messages = [
            {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
            for i, c in enumerate(chunks)
        ]
        sent.clear()

        async def receive(messages: list[dict[str, Any]] = messages) -> dict[str, Any]:
            return messages.pop(0)

        scope = {
            **_scope(b"", [(b"authorization", b"Bearer dev-acme-write-key")]),
            "method": "POST",
            "path": "/v1/events",
        }
        await app(scope, receive, send)
        assert sent[0]["status"] == status
    assert len(producer.records["events.v1"]) == 3
