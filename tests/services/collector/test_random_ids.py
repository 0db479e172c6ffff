from __future__ import annotations

import uuid

from services.collector.random_ids import RandomPool, new_event_id, random_bytes, random_uuid


def test_the_pool_never_hands_out_the_same_bytes_twice_across_refills() -> None:
    pool = RandomPool()
    chunks = [pool.take(24) for _ in range(1_000)]  # ~6 refills of 4 KiB
    assert all(len(chunk) == 24 for chunk in chunks)
    assert len(set(chunks)) == len(chunks)


def test_ids_are_version_4_uuids_and_unique() -> None:
    ids = {new_event_id() for _ in range(5_000)}
    assert len(ids) == 5_000
    for text in ids:  # every id of every refill, formatted as str(uuid.UUID) formats it
        parsed = uuid.UUID(text)
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed) == text
    assert random_uuid().version == 4
    assert len(random_bytes(8)) == 8
