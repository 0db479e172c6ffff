"""The dashboard page on the real reports API (services.reports) over the reports' test data
set (tests/services/reports/dataset.py) in the embedded ClickHouse: every card renders from
the real JSON shapes, the counts drawn match what the API answered, nothing is logged as an
error, and the explain view draws a real conversion's path."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

import services.reports as reports
from services.clock import FixedClock
from services.dashboard import build_dashboard_router
from services.store.clickhouse import connect
from services.store.migrations import migrate
from tests.conftest import random_name
from tests.services.dashboard.chromium import CdpPage
from tests.services.dashboard.conftest import fresh_dashboard, serve
from tests.services.dashboard.dashboard_page import (
    REPORTS,
    SETTLED,
    card_states,
    drawn_points,
    save_screenshot,
    use_key,
)
from tests.services.reports import dataset
from tracker.registry import load_registry

REPO = Path(__file__).resolve().parents[3]
FIRST, LAST = date(2026, 3, 1), date(2026, 3, 31)  # the data set's month, both days shown
CONVERSION = "acme-conv-O1"  # three touches, three payouts
SHARES = ("bot_share", "flagged_share", "flagged_install_share")  # a dot each when known


@pytest.fixture(scope="module")
def reports_url(chdb_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    name = random_name("dashboard")
    client = connect(chdb_url, name)
    migrate(client)
    dataset.load(client, tmp_path_factory.mktemp("dashboard-bus"))
    registry = load_registry(REPO / "deploy" / "registry.example.yaml")
    clock = FixedClock(int(dataset.NOW.timestamp() * 1000))
    app = FastAPI()
    app.include_router(reports.build_reports_router(client, registry, clock, engine=dataset.ENGINE))
    app.include_router(build_dashboard_router())
    try:
        with serve(app) as url:
            yield url
    finally:
        client.command(f"DROP DATABASE IF EXISTS {name}")


def api(url: str, path: str, **params: str) -> Any:
    headers = {"Authorization": f"Bearer {dataset.ACME_KEY}"}
    with httpx.Client(trust_env=False, timeout=30) as client:
        answer = client.get(f"{url}{path}", params=params, headers=headers)
    answer.raise_for_status()
    return answer.json()


def expected_points(url: str) -> dict[str, int]:
    """The marks each chart must draw for what the API answers over the month."""
    span = {"from": FIRST.isoformat(), "to": (LAST + timedelta(days=1)).isoformat()}
    body = {name: api(url, f"/v1/reports/{name}", **span) for name in REPORTS}
    days = (LAST - FIRST).days + 1
    role_counts = ("introducer_count", "influencer_count", "closer_count")

    def column(name: str, col: str) -> list[Any]:
        index = body[name]["columns"].index(col)
        return [row[index] for row in body[name]["rows"]]

    models = [c for c in body["model-comparison"]["columns"] if c != "partner_id"]
    models = [c for c in models if not c.endswith("_pct")]
    quality_partners = body["quality"]["ctit_histogram"]["partners"]
    buckets = max((len(c) for c in quality_partners.values()), default=0)
    return {
        "performance": days * len(set(column("performance", "key"))),
        "role-mix": sum(v > 0 for c in role_counts for v in column("role-mix", c)),
        "model-comparison": sum(
            isinstance(v, int | float) for m in models for v in column("model-comparison", m)
        ),
        "overlap": len(body["overlap"]["partners"]) ** 2,
        "quality": buckets + sum(v is not None for c in SHARES for v in column("quality", c)),
        "customer-value": 3 * len(body["customer-value"]["rows"]),
        "time-to-convert": len(body["time-to-convert"]["rows"]),
        "path-length": len(body["path-length"]["rows"]),
    }


@pytest.fixture
def page(browser_page: CdpPage, reports_url: str) -> CdpPage:
    return fresh_dashboard(browser_page, reports_url, f"?from={FIRST}&to={LAST}")


def test_every_card_renders_what_the_reports_api_answers(
    page: CdpPage, reports_url: str, screenshot_dir: Path
) -> None:
    use_key(page, dataset.ACME_KEY)
    page.wait_for(SETTLED, timeout=60)

    assert card_states(page) == dict.fromkeys(REPORTS, "ready")
    assert drawn_points(page) == expected_points(reports_url)
    href = page.evaluate("document.querySelector('#card-path-length a.csv-link').href")
    with httpx.Client(trust_env=False, timeout=30) as client:
        answer = client.get(href)
    assert answer.status_code == 200
    header = next(csv.reader(io.StringIO(answer.text)))
    assert header == api(reports_url, "/v1/reports/path-length")["columns"]
    save_screenshot(page, screenshot_dir, "dashboard-reports-api.png")
    assert page.errors() == []


def test_explain_view_draws_a_real_conversion(page: CdpPage, reports_url: str) -> None:
    use_key(page, dataset.ACME_KEY)
    page.wait_for(SETTLED, timeout=60)
    page.type_into("#conversion-id", CONVERSION)
    page.press_enter()
    page.wait_for("document.getElementById('explain').dataset.state === 'ready'", timeout=60)

    body = api(reports_url, f"/v1/conversions/{CONVERSION}/explain", model="last_touch")
    steps = page.evaluate(
        "[...document.querySelectorAll('#explain .path-step')]"
        ".map(g => g.querySelector('.step-label').textContent)"
    )
    by_time = sorted([*body["path"], *body["excluded"]], key=lambda t: t["ts"])
    assert steps == [t["partner_id"] for t in by_time]
    assert len(body["path"]) == 3
    payouts = page.evaluate(
        "[...document.querySelectorAll('#explain-result .explain-section')]"
        ".find(s => s.querySelector('h3').textContent === 'Payouts')"
        ".querySelectorAll('tbody tr').length"
    )
    assert payouts == len(body["payouts"]) > 0
    assert page.errors() == []


def test_flagged_installs_are_named_on_the_quality_card_and_in_explain(
    page: CdpPage, screenshot_dir: Path
) -> None:
    """rocket-app's floodnet won two installs while flooding clicks (dataset.py)."""
    use_key(page, dataset.ROCKET_KEY)
    page.wait_for(SETTLED, timeout=60)
    notes = page.evaluate(
        "[...document.querySelectorAll('#card-quality .quality-notes p')].map(p => p.textContent)"
    )
    assert "Flagged installs, not paid: floodnet 2 of 5 (40%): click flooding" in notes
    (latest,) = [n for n in notes if n.startswith("Latest: ")]
    assert latest.index("rocket-f4-install") < latest.index("rocket-f3-install")

    page.type_into("#conversion-id", dataset.FLAGGED_INSTALLS[0])
    page.press_enter()
    page.wait_for("document.getElementById('explain').dataset.state === 'ready'", timeout=60)
    rows = page.evaluate(
        "[...document.querySelectorAll('#explain-path tbody tr')].map(r =>"
        " [...r.cells].map(c => c.textContent))"
    )
    assert [(r[1], r[-1]) for r in rows] == [("floodnet", "click flooding")]
    tip = page.evaluate("document.querySelector('#explain .path-step circle.datum').dataset.tip")
    assert tip.endswith(", flagged click flooding: not paid")
    page.evaluate("document.getElementById('card-quality').scrollIntoView()")
    save_screenshot(page, screenshot_dir, "dashboard-flagged-installs.png")
    assert page.errors() == []
