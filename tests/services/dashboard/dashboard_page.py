"""What the page tests ask of the dashboard page: its cards' states, the marks its charts
drew, the read key typed in, a screenshot."""

from __future__ import annotations

from pathlib import Path

from tests.services.dashboard.chromium import CdpPage

REPORTS = [
    "performance",
    "role-mix",
    "model-comparison",
    "overlap",
    "quality",
    "customer-value",
    "time-to-convert",
    "path-length",
]
SETTLED = (
    "[...document.querySelectorAll('.card[data-report]')]"
    ".every(c => !['loading', 'idle'].includes(c.dataset.state))"
)


def use_key(page: CdpPage, key: str) -> None:
    page.type_into("#read-key", key)
    page.press_enter()


def card_states(page: CdpPage) -> dict[str, str]:
    states: dict[str, str] = page.evaluate(
        "Object.fromEntries([...document.querySelectorAll('.card[data-report]')]"
        ".map(c => [c.dataset.report, c.dataset.state]))"
    )
    return states


def save_screenshot(page: CdpPage, folder: Path, name: str) -> Path:
    path = page.screenshot(folder / name)
    assert path.stat().st_size > 10_000
    print(f"\ndashboard screenshot: {path}")
    return path


def drawn_points(page: CdpPage) -> dict[str, int]:
    """Per report card, the data marks (bars, dots, cells) its chart SVGs hold."""
    drawn: dict[str, int] = page.evaluate(
        "Object.fromEntries([...document.querySelectorAll('.card[data-report]')].map(c =>"
        " [c.dataset.report, c.querySelectorAll('.chart svg[role=img] .datum').length]))"
    )
    return drawn
