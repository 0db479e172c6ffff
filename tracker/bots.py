"""Bot and crawler detection from the User-Agent header.

Uses the maintained pattern list of the ``crawlerdetect`` package (a port of the PHP
CrawlerDetect project). A missing or blank User-Agent counts as a bot: browsers always send
one. Verdicts are cached per User-Agent string (bounded LRU), since a handful of UAs make up
most traffic. User-Agents are cut to :data:`MAX_UA_CHARS` before matching, which bounds both
the regex work and the cache's memory.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal

from crawlerdetect import CrawlerDetect

MAX_UA_CHARS = 1024
CACHE_SIZE = 8192

BotReason = Literal["empty_user_agent", "crawler_pattern"]


@dataclass(frozen=True, slots=True)
class BotVerdict:
    """Whether a User-Agent is a bot, why, and the crawler pattern text it matched."""

    is_bot: bool
    reason: BotReason | None = None
    crawler: str | None = None


HUMAN = BotVerdict(is_bot=False)
EMPTY_USER_AGENT = BotVerdict(is_bot=True, reason="empty_user_agent")


@functools.lru_cache(maxsize=CACHE_SIZE)
def _verdict(user_agent: str) -> BotVerdict:
    # A fresh detector per cache miss: CrawlerDetect keeps the last match on the instance,
    # so sharing one between threads could report another request's crawler name.
    detector = CrawlerDetect()
    if detector.is_crawler(user_agent):
        return BotVerdict(is_bot=True, reason="crawler_pattern", crawler=detector.get_matches())
    return HUMAN


def detect_bot(user_agent: str | None) -> BotVerdict:
    """Classify a User-Agent header value (None when the header is absent)."""
    ua = (user_agent or "").strip()[:MAX_UA_CHARS]
    if not ua:
        return EMPTY_USER_AGENT
    return _verdict(ua)


def is_bot(user_agent: str | None) -> bool:
    return detect_bot(user_agent).is_bot


def bot_cache_info() -> functools._CacheInfo:
    """Hits, misses and size of the verdict cache (for metrics)."""
    return _verdict.cache_info()
