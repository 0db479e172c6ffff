"""An in-memory producer for tests of the logic around the bus (no durability).

`MemoryProducer.records[topic]` lists what was sent, in order; `fail_with` makes the next
sends raise, to test how callers handle a bus that cannot make events durable.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from services.bus.errors import BusClosed, BusError


class MemoryProducer:
    def __init__(self) -> None:
        self.records: defaultdict[str, list[tuple[bytes, bytes]]] = defaultdict(list)
        self.started = False
        self.fail_with: BusError | None = None

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.started = False

    async def send_batch(self, topic: str, items: Sequence[tuple[bytes, bytes]]) -> None:
        if not self.started:
            raise BusClosed("producer not started")
        if self.fail_with is not None:
            raise self.fail_with
        self.records[topic].extend(items)
