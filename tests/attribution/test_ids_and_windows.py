"""Stable ids at the edge, and lookback windows with their overrides."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import numpy as np
import pytest

from attribution.columns import TouchKind
from attribution.errors import ConfigError
from attribution.ids import INSTALL_EVENT, NONE_ID, hash_id, hash_ids
from attribution.windows import DAY_MS, HOUR_MS, LookbackWindows, WindowOverride


def test_hash_is_blake2b_8_bytes_little_endian() -> None:
    digest = hashlib.blake2b(b"visitor-42", digest_size=8).digest()
    assert hash_id("visitor-42") == int.from_bytes(digest, "little", signed=True)
    assert hash_id(b"visitor-42") == hash_id("visitor-42")


def test_none_and_empty_are_the_reserved_zero() -> None:
    assert hash_id(None) == hash_id("") == NONE_ID == 0
    assert hash_id("a") != 0


def test_column_equals_scalars() -> None:
    values = ["a", None, "install", "ünïcödé", ""]
    column = hash_ids(values)
    assert column.dtype == np.int64
    assert column.tolist() == [hash_id(v) for v in values]
    assert hash_ids([]).shape == (0,)
    assert hash_id("install") == INSTALL_EVENT


def test_same_in_another_process() -> None:
    code = "from attribution.ids import hash_id; print(hash_id('partner-7'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(out.stdout) == hash_id("partner-7")


WINDOWS = LookbackWindows(
    overrides=(
        WindowOverride(advertiser_id=5, click_ms=7 * DAY_MS),
        WindowOverride(advertiser_id=5, partner_id=9, impression_ms=HOUR_MS),
        WindowOverride(advertiser_id=6, partner_id=9, click_ms=DAY_MS, impression_ms=2 * HOUR_MS),
    )
)


@pytest.mark.parametrize(
    ("kind", "advertiser", "partner", "expected"),
    [
        (TouchKind.CLICK, 1, 1, 30 * DAY_MS),  # defaults
        (TouchKind.IMPRESSION, 1, 1, 24 * HOUR_MS),
        (TouchKind.CLICK, 5, 1, 7 * DAY_MS),  # advertiser override
        (TouchKind.IMPRESSION, 5, 1, 24 * HOUR_MS),  # not overridden for impressions
        (TouchKind.IMPRESSION, 5, 9, HOUR_MS),  # (advertiser, partner) override
        (TouchKind.CLICK, 5, 9, 7 * DAY_MS),  # falls through to the advertiser's
        (TouchKind.CLICK, 6, 9, DAY_MS),
        (TouchKind.CLICK, 6, 8, 30 * DAY_MS),  # another partner of advertiser 6
        (TouchKind.CLICK, 9, 6, 30 * DAY_MS),  # advertiser and partner swapped: no match
    ],
)
def test_window_resolution(kind: TouchKind, advertiser: int, partner: int, expected: int) -> None:
    assert WINDOWS.window_ms(kind, advertiser, partner) == expected
    column = WINDOWS.for_touches(
        np.array([kind], np.int8), np.array([advertiser], np.int64), np.array([partner], np.int64)
    )
    assert column.tolist() == [expected]


def test_longest_window_counts_overrides() -> None:
    assert WINDOWS.longest_ms == 30 * DAY_MS
    assert (
        LookbackWindows(overrides=(WindowOverride(1, click_ms=90 * DAY_MS),)).longest_ms
        == 90 * DAY_MS
    )


@pytest.mark.parametrize(
    "make",
    [
        lambda: LookbackWindows(click_ms=-1),
        lambda: LookbackWindows(overrides=(WindowOverride(1, impression_ms=-5),)),
        lambda: LookbackWindows(overrides=(WindowOverride(1, 2), WindowOverride(1, 2))),
    ],
)
def test_bad_windows_are_refused(make: object) -> None:
    with pytest.raises(ConfigError):
        make()  # type: ignore[operator]
