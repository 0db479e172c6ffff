"""Pacing of simulated traffic, pure: a reserving token bucket and journey time compression.

The driver reads the clock and sleeps; these only compute how long.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_STEP_GAP_S = 0.5  # the longest pause between two steps of one journey, once compressed
TIME_COMPRESSION = 1000.0  # a journey's real-world gaps divided by this (30 min -> 1.8 s)


@dataclass(slots=True)
class TokenBucket:
    """`rate` tokens per second, at most `burst` saved up. `reserve` always succeeds and
    says how long the caller must wait for its turn, so concurrent callers are served in the
    order they asked, and the long-run rate never exceeds `rate`."""

    rate: float
    burst: float
    tokens: float = 0.0
    updated_s: float | None = None

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ValueError("a token bucket needs rate > 0 and burst >= 1")
        self.tokens = self.burst

    def reserve(self, now_s: float, cost: float = 1.0) -> float:
        """Take `cost` tokens (the balance may go negative: a queue); the seconds to wait."""
        if self.updated_s is not None and now_s > self.updated_s:
            self.tokens = min(self.burst, self.tokens + (now_s - self.updated_s) * self.rate)
        if self.updated_s is None or now_s > self.updated_s:
            self.updated_s = now_s
        self.tokens -= cost
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate


def compressed_gap(real_gap_s: float) -> float:
    """The pause to take between two steps that are `real_gap_s` apart in the plan."""
    return min(MAX_STEP_GAP_S, max(0.0, real_gap_s) / TIME_COMPRESSION)
