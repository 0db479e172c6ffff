from __future__ import annotations

import pytest

from services.simulation.pacing import MAX_STEP_GAP_S, TokenBucket, compressed_gap


def test_a_full_bucket_serves_its_burst_at_once_then_spaces_callers_by_one_over_rate() -> None:
    bucket = TokenBucket(rate=10, burst=3)
    waits = [bucket.reserve(100.0) for _ in range(6)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3:] == pytest.approx([0.1, 0.2, 0.3])


def test_the_long_run_rate_never_exceeds_the_rate() -> None:
    bucket = TokenBucket(rate=50, burst=5)
    now, sent = 0.0, 0
    while now < 10.0:  # callers that always come back as soon as they may
        wait = bucket.reserve(now)
        now += wait
        sent += 1
    assert sent <= 50 * 10 + 5 + 1
    assert sent >= 50 * 10 - 1


def test_idle_time_refills_no_more_than_the_burst() -> None:
    bucket = TokenBucket(rate=10, burst=2)
    bucket.reserve(0.0)
    bucket.reserve(0.0)
    waits = [bucket.reserve(1000.0) for _ in range(3)]  # long idle: 2 saved, not 10_000
    assert waits == pytest.approx([0.0, 0.0, 0.1])


def test_a_clock_going_backwards_does_not_mint_tokens() -> None:
    bucket = TokenBucket(rate=1, burst=1)
    assert bucket.reserve(10.0) == 0.0
    assert bucket.reserve(5.0) == pytest.approx(1.0)


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 5), (10, 0.5)])
def test_a_bucket_refuses_a_useless_shape(rate: float, burst: float) -> None:
    with pytest.raises(ValueError, match="token bucket"):
        TokenBucket(rate=rate, burst=burst)


@pytest.mark.parametrize(
    ("real", "compressed"),
    [(-5.0, 0.0), (0.0, 0.0), (45.0, 0.045), (300.0, 0.3), (1800.0, MAX_STEP_GAP_S),
     (86_400.0, MAX_STEP_GAP_S)],
)  # fmt: skip
def test_compressed_gaps(real: float, compressed: float) -> None:
    assert compressed_gap(real) == pytest.approx(compressed)
