"""A partition's records at or below the events table's high-water mark are not processed
again (a replay after a crash between the write and the commit)."""

from __future__ import annotations

import pytest

from services.attributor.service import _above
from services.bus.records import Record


def records(*offsets: int) -> list[Record]:
    return [Record("events.v1", 0, o, b"k", b"{}", 0) for o in offsets]


@pytest.mark.parametrize(
    ("offsets", "mark", "kept"),
    [
        ((5, 6, 7), -1, (5, 6, 7)),  # nothing written yet
        ((5, 6, 7), 4, (5, 6, 7)),
        ((5, 6, 7), 5, (6, 7)),
        ((5, 6, 7), 6, (7,)),
        ((5, 6, 7), 7, ()),
        ((5, 6, 7), 100, ()),
        ((3, 8, 9, 15), 8, (9, 15)),  # gaps (compacted topics, transaction markers)
        ((), 3, ()),
    ],
)
def test_only_records_above_the_mark_are_kept(
    offsets: tuple[int, ...], mark: int, kept: tuple[int, ...]
) -> None:
    assert tuple(r.offset for r in _above(records(*offsets), mark)) == kept
