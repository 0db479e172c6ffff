"""tracker.bots: crawler detection from real User-Agent strings."""

from __future__ import annotations

import pytest

from tracker import bots
from tracker.bots import MAX_UA_CHARS, bot_cache_info, detect_bot, is_bot

CRAWLERS = [
    ("Googlebot", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"),
    (
        "Googlebot smartphone",
        "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, "
        "like Gecko) Chrome/120.0.6099.71 Mobile Safari/537.36 (compatible; Googlebot/2.1; "
        "+http://www.google.com/bot.html)",
    ),
    ("bingbot", "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"),
    ("curl", "curl/8.4.0"),
    ("python-requests", "python-requests/2.31.0"),
    ("wget", "Wget/1.21.4"),
    (
        "HeadlessChrome",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "HeadlessChrome/120.0.6099.109 Safari/537.36",
    ),
    (
        "facebookexternalhit",
        "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    ),
    ("AhrefsBot", "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)"),
]

BROWSERS = [
    (
        "Chrome Windows",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36",
    ),
    (
        "Safari iOS",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
        "like Gecko) Version/17.1.2 Mobile/15E148 Safari/604.1",
    ),
    (
        "Firefox",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
    ),
    (
        "Samsung Internet",
        "Mozilla/5.0 (Linux; Android 13; SAMSUNG SM-S911B) AppleWebKit/537.36 (KHTML, like "
        "Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
    ),
    (
        "Safari macOS",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like "
        "Gecko) Version/17.2 Safari/605.1.15",
    ),
    (
        "Chrome Android",
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Mobile Safari/537.36",
    ),
    (
        "Edge",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91",
    ),
]


@pytest.mark.parametrize("ua", [ua for _, ua in CRAWLERS], ids=[n for n, _ in CRAWLERS])
def test_crawlers_are_bots_with_a_matched_name(ua: str) -> None:
    verdict = detect_bot(ua)
    assert verdict.is_bot
    assert verdict.reason == "crawler_pattern"
    assert verdict.crawler
    assert verdict.crawler.lower() in ua.lower()
    assert is_bot(ua)


@pytest.mark.parametrize(
    ("ua", "name"),
    [
        ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "googlebot"),
        ("curl/8.4.0", "curl"),
        ("python-requests/2.31.0", "python-requests"),
    ],
)
def test_matched_name_names_the_crawler(ua: str, name: str) -> None:
    crawler = detect_bot(ua).crawler
    assert crawler is not None
    assert name in crawler.lower()


@pytest.mark.parametrize("ua", [ua for _, ua in BROWSERS], ids=[n for n, _ in BROWSERS])
def test_browsers_are_not_bots(ua: str) -> None:
    verdict = detect_bot(ua)
    assert not verdict.is_bot
    assert verdict.reason is None
    assert verdict.crawler is None


@pytest.mark.parametrize("ua", [None, "", "   ", "\t"])
def test_missing_or_blank_user_agent_is_a_bot(ua: str | None) -> None:
    verdict = detect_bot(ua)
    assert verdict.is_bot
    assert verdict.reason == "empty_user_agent"


def test_verdicts_are_cached() -> None:
    bots._verdict.cache_clear()
    ua = BROWSERS[0][1]
    detect_bot(ua)
    detect_bot(ua)
    detect_bot(" " + ua + " ")  # same UA once stripped
    info = bot_cache_info()
    assert (info.misses, info.hits) == (1, 2)
    assert info.maxsize == bots.CACHE_SIZE


def test_long_user_agents_are_cut_before_matching() -> None:
    bots._verdict.cache_clear()
    browser = BROWSERS[0][1]
    padded = browser + " " + "x" * (2 * MAX_UA_CHARS) + " Googlebot/2.1"
    assert not detect_bot(padded).is_bot  # the bot token lies beyond the cut
    assert detect_bot("Googlebot/2.1 " + "x" * (2 * MAX_UA_CHARS)).is_bot
    assert bot_cache_info().currsize == 2
