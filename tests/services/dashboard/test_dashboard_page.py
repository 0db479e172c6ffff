"""The dashboard page in headless Chromium, against the fake reports API (fake_reports.py).

Checks that every chart draws one SVG mark per data point, that nothing is logged as an error,
that CSV links point at the API, that tables open from the keyboard, that empty ranges and
refused keys say so, and that the explain view draws a conversion's path. Screenshots are saved
in pytest's temporary folder and their paths printed (`pytest -s` shows them).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.services.dashboard import fake_reports as fake
from tests.services.dashboard.chromium import CdpPage
from tests.services.dashboard.dashboard_page import (
    REPORTS,
    SETTLED,
    card_states,
    drawn_points,
    save_screenshot,
    use_key,
)


def expected_points(start: date, end: date) -> dict[str, int]:
    """How many marks each chart must draw for the fake's data over [start, end]."""
    days = (end - start).days + 1
    role_marks = sum(1 for row in fake.role_mix() for count in row[1:4] if count > 0)
    ctit_buckets = max(len(counts) for counts in fake.ctit_counts().values())
    share_at = [fake.COLUMNS["quality"].index(c) for c in fake.SHARE_COLUMNS]
    # bot, flagged-click and flagged-install shares per partner: a dot for each known one
    quality_dots = sum(row[i] is not None for row in fake.quality_rows() for i in share_at)
    return {
        "performance": days * len(fake.PARTNERS),
        "role-mix": role_marks,
        "model-comparison": len(fake.PARTNERS) * len(fake.MODELS),
        "overlap": len(fake.PARTNERS) ** 2,
        "quality": ctit_buckets + quality_dots,
        "customer-value": len(fake.customer_value()) * 3,
        "time-to-convert": len(fake.TIME_TO_CONVERT),
        "path-length": len(fake.PATH_LENGTH),
    }


def test_charts_render_from_the_api_without_console_errors(
    page: CdpPage, base_url: str, screenshot_dir: Path
) -> None:
    assert card_states(page) == dict.fromkeys(REPORTS, "idle")

    use_key(page, fake.READ_KEY)
    page.wait_for(SETTLED)

    assert card_states(page) == dict.fromkeys(REPORTS, "ready")
    start = date.fromisoformat(page.evaluate("document.querySelector('[name=from]').value"))
    end = date.fromisoformat(page.evaluate("document.querySelector('[name=to]').value"))
    assert (end - start).days == 29
    assert drawn_points(page) == expected_points(start, end)
    assert page.evaluate("localStorage.getItem('partnerstream.readKey')") == fake.READ_KEY
    save_screenshot(page, screenshot_dir, "dashboard.png")
    assert page.errors() == []


def test_quality_card_names_the_flagged_installs_their_share_and_reason(page: CdpPage) -> None:
    use_key(page, fake.READ_KEY)
    page.wait_for(SETTLED)
    notes = page.evaluate(
        "[...document.querySelectorAll('#card-quality .quality-notes p')].map(p => p.textContent)"
    )
    assert notes[0].startswith("Rejected events: ")
    # mobidream: 42 flagged of the 150 + 42 installs it won
    assert notes[1] == "Flagged installs, not paid: mobidream 42 of 192 (21.9%): click flooding"
    assert notes[2].startswith("Latest: install-3 (mobidream, ")
    assert [i["install_id"] in notes[2] for i in fake.flagged_installs()] == [True] * 3
    dots = page.evaluate(
        "[...document.querySelectorAll('#card-quality circle.datum"
        "[data-key=flagged_install_share]')].map(c => c.dataset.tip)"
    )
    assert dots == ["mobidream · Flagged share of installs (not paid): 22%"]
    assert page.errors() == []


def test_csv_links_point_at_the_api_with_the_query_and_key(page: CdpPage, base_url: str) -> None:
    use_key(page, fake.READ_KEY)
    page.wait_for(SETTLED)
    links = page.evaluate(
        "Object.fromEntries([...document.querySelectorAll('.card[data-report]')].map(c =>"
        " [c.dataset.report, c.querySelector('a.csv-link').href]))"
    )
    assert set(links) == set(REPORTS)
    shown = {
        name: page.evaluate(f"document.querySelector('[name={name}]').value")
        for name in ("from", "to", "model")
    }
    # The page shows inclusive days; the API's `to` is exclusive: the day after the last one.
    query = {**shown, "to": (date.fromisoformat(shown["to"]) + timedelta(days=1)).isoformat()}
    for report, href in links.items():
        url = urlsplit(href)
        params = {name: values[0] for name, values in parse_qs(url.query).items()}
        assert f"{url.scheme}://{url.netloc}" == base_url
        assert url.path == f"/v1/reports/{report}"
        assert params["format"] == "csv"
        assert params["key"] == fake.READ_KEY
        assert {name: params[name] for name in query} == query

    performance = urlsplit(links["performance"])
    assert parse_qs(performance.query)["group_by"] == ["partner"]
    with httpx.Client(trust_env=False) as client:
        answer = client.get(links["role-mix"])
    assert answer.status_code == 200
    assert next(csv.reader(io.StringIO(answer.text))) == fake.COLUMNS["role-mix"]


def test_card_controls_refetch_and_tables_open_from_the_keyboard(page: CdpPage) -> None:
    use_key(page, fake.READ_KEY)
    page.wait_for(SETTLED)

    page.evaluate("document.querySelector('#card-role-mix .table-toggle').focus()")
    page.press_enter()
    table = "#card-role-mix .table-wrap table"
    page.wait_for(f"document.querySelector({json.dumps(table)}) !== null")
    assert (
        page.evaluate(
            "document.querySelector('#card-role-mix .table-toggle').getAttribute('aria-expanded')"
        )
        == "true"
    )
    assert page.evaluate(f"document.querySelectorAll('{table} tbody tr').length") == len(
        fake.role_mix()
    )
    headers = page.evaluate(
        f"[...document.querySelectorAll('{table} th')].map(th => th.textContent)"
    )
    assert headers[0] == "Partner id"
    assert len(headers) == len(fake.COLUMNS["role-mix"])

    # Grouping by partner type asks the API again and draws one line per type.
    page.evaluate(
        "(() => { const s = document.querySelector('#card-performance select[name=group_by]');"
        " s.value = 'partner_type'; s.dispatchEvent(new Event('change')); })()"
    )
    page.wait_for(SETTLED)
    types = len(set(fake.PARTNER_TYPES.values()))
    assert page.evaluate("document.querySelectorAll('#card-performance .series').length") == types
    assert "group_by=partner_type" in page.evaluate(
        "document.querySelector('#card-performance a.csv-link').href"
    )
    assert page.errors() == []


def test_an_empty_range_says_so_instead_of_drawing_blank_charts(
    page: CdpPage, screenshot_dir: Path
) -> None:
    use_key(page, fake.READ_KEY)
    page.wait_for(SETTLED)
    page.evaluate(
        "(() => { const f = document.getElementById('filters');"
        " f.elements.from.value = '2000-01-01'; f.elements.to.value = '2000-01-31';"
        " f.requestSubmit(); })()"
    )
    page.wait_for(SETTLED)
    assert card_states(page) == dict.fromkeys(REPORTS, "empty")
    messages = page.evaluate(
        "[...document.querySelectorAll('.card[data-report] .state-title')].map(e => e.textContent)"
    )
    assert messages == ["No data for this range"] * len(REPORTS)
    assert page.evaluate("document.querySelectorAll('.card[data-report] .datum').length") == 0
    assert "from=2000-01-01" in page.evaluate("location.search")
    save_screenshot(page, screenshot_dir, "dashboard-empty.png")
    assert page.errors() == []


def test_a_refused_key_is_reported_on_every_card(page: CdpPage) -> None:
    use_key(page, "not-a-key")
    page.wait_for(SETTLED)
    assert card_states(page) == dict.fromkeys(REPORTS, "error")
    assert "refused" in page.evaluate("document.getElementById('notice').textContent")
    # The browser logs each 401 answer as a network error; nothing else may be logged.
    assert page.errors(ignore_network=True) == []


def test_explain_view_draws_the_path_exclusions_and_payouts(
    page: CdpPage, screenshot_dir: Path
) -> None:
    use_key(page, fake.READ_KEY)
    page.wait_for(SETTLED)
    page.type_into("#conversion-id", fake.EXPLAINED_CONVERSION)
    page.press_enter()
    page.wait_for("document.getElementById('explain').dataset.state === 'ready'")

    explain = fake.EXPLAIN
    path, excluded, payouts = explain["path"], explain["excluded"], explain["payouts"]
    steps = page.evaluate(
        "[...document.querySelectorAll('#explain .path-step')].map(g =>"
        " ({role: g.dataset.role, excluded: g.classList.contains('excluded'),"
        "   label: g.querySelector('.step-label').textContent}))"
    )
    assert len(steps) == len(path) + len(excluded)
    by_time = sorted([*path, *excluded], key=lambda t: t["ts"])
    assert [s["label"] for s in steps] == [t["partner_id"] for t in by_time]
    assert [s["role"] for s in steps if not s["excluded"]] == [t["role"] for t in path]
    assert page.evaluate("document.querySelectorAll('#explain .path-conversion').length") == 1

    rows = page.evaluate(
        "[...document.querySelectorAll('#explain-path tbody tr')].map(r =>"
        " [...r.cells].map(c => c.textContent))"
    )
    assert [r[1] for r in rows] == [t["partner_id"] for t in path]
    assert [r[4] for r in rows] == [f"{round(t['weight'] * 100)}%" for t in path]
    text = page.evaluate("document.getElementById('explain-result').textContent")
    assert "outside lookback window" in text
    for payout in payouts:
        assert payout["contract_id"] in text
    caption = "document.querySelector('#explain-path caption').textContent"
    assert page.evaluate(caption) == "Touches credited under Last touch"

    # Another model: asked of the API again, the path stays on screen meanwhile.
    page.evaluate(
        "(() => { const s = document.getElementById('explain-model'); s.focus();"
        " s.value = 'linear'; s.dispatchEvent(new Event('change')); })()"
    )
    page.wait_for(f"{caption} === 'Touches credited under Linear'")
    assert page.evaluate("document.activeElement.id") == "explain-model"
    save_screenshot(page, screenshot_dir, "dashboard-explain.png")
    assert page.errors() == []


def test_an_unknown_conversion_is_named(page: CdpPage) -> None:
    use_key(page, fake.READ_KEY)
    page.type_into("#conversion-id", "order-missing")
    page.press_enter()
    page.wait_for("document.getElementById('explain').dataset.state === 'empty'")
    assert "order-missing" in page.evaluate("document.getElementById('explain-result').textContent")
