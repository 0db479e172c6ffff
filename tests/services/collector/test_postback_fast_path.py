"""`/v1/postback/{source}` served in front of FastAPI (`fast_paths.py`) answers, records,
dead-letters and counts exactly as the FastAPI routes do."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.testclient import TestClient

from services.bus.memory_bus import MemoryProducer
from services.clock import FixedClock
from services.collector.app import create_app
from services.settings import CollectorSettings
from tests.services.collector.conftest import NOW_MS
from tests.services.collector.test_postbacks import (
    IDFA,
    PRESETS,
    auth_headers,
    install_macros,
    postback_params,
)
from tracker.registry import Registry


def _requests() -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, httpx keyword arguments): every preset's install, and refusals."""
    out: list[tuple[str, str, dict[str, Any]]] = []
    for source in sorted(PRESETS):
        params = postback_params(source, install_macros(source, ""))
        out.append(("GET", f"/v1/postback/{source}", {"params": params}))
    af = postback_params("appsflyer", install_macros("appsflyer", ""))
    out.append(("GET", "/v1/postback/appsflyer", {"params": af | {"token": "wrong"}}))  # 401
    out.append(("GET", "/v1/postback/tenjin", {"params": {"token": "t", "idfa": IDFA}}))  # 404
    bad = postback_params("appsflyer", install_macros("appsflyer", "") | {"(app-id)": "id999"})
    out.append(("GET", "/v1/postback/appsflyer", {"params": bad}))  # 404 app_unknown
    generic = postback_params("generic", install_macros("generic", ""))
    form = "&".join(f"{k}={v}" for k, v in generic.items() if v).encode()
    out.append(("POST", "/v1/postback/generic", {"content": form, "form_of": ("generic", generic)}))
    out.append(("POST", "/v1/postback/generic", {"content": b"x" * 600_000}))  # 413
    return out


def _run(registry: Registry, fast: bool) -> tuple[list[Any], dict[str, Any], list[str]]:
    settings = CollectorSettings(
        rate_limit_per_second=1000,
        rate_limit_burst=1000,
        trust_forwarded_for=True,
        fast_paths=fast,
    )
    producer = MemoryProducer()
    app = create_app(settings, registry=registry, producer=producer, clock=FixedClock(NOW_MS))
    app.state.deps.intake.new_id = iter(f"server-id-{n:04d}" for n in range(99)).__next__
    answers = []
    with TestClient(app, base_url="https://collector.test") as client:
        for method, path, kwargs in _requests():
            source = path.rsplit("/", 1)[1]
            kwargs = dict(kwargs)
            signed = kwargs.pop("form_of", None)
            if signed is not None:
                headers = auth_headers(signed[0], signed[1], kwargs["content"])
                headers["content-type"] = "application/x-www-form-urlencoded"
            else:
                headers = auth_headers(source, kwargs.get("params", {}))
            r = client.request(method, path, headers=headers, **kwargs)
            answers.append((r.status_code, r.headers.get("content-type"), r.json()))
        metrics = [
            line
            for line in client.get("/metrics").text.splitlines()
            if line.startswith("partnerstream_") and "_total{" in line
        ]
    records = {t: [orjson.loads(v) for _, v in items] for t, items in producer.records.items()}
    return answers, records, metrics


def test_postbacks_answer_like_the_fastapi_routes(registry: Registry) -> None:
    fast, fastapi = _run(registry, True), _run(registry, False)
    statuses = [answer[0] for answer in fast[0]]
    assert statuses == [200] * len(PRESETS) + [401, 404, 404, 200, 413]
    assert fast == fastapi
    assert any('route="/v1/postback/{source}",status="200"' in line for line in fast[2])
