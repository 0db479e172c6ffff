"""Test doubles of the bus tests (imported by conftest.py and by the tests for typing)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from services.bus.errors import BusUnavailable, DeliveryFailed


class FakePrimary:
    """An ``EventProducer`` standing in for Kafka.

    ``mode``: "ok" delivers at once, "fail" raises ``DeliveryFailed``, "hang" blocks until
    ``release(deliver=...)`` (or ``stop``, which settles hung sends as ``outcome_on_stop``,
    like a producer that flushes or fails its buffer when closed). ``partial_next`` makes
    the next call deliver only its even-numbered items and say so. ``delivered`` lists
    (topic, key, value) in delivery order; ``calls`` counts ``send_batch`` calls.
    """

    def __init__(self, mode: str = "ok") -> None:
        self.mode = mode
        self.start_fails = False
        self.outcome_on_stop = "deliver"
        self.delivered: list[tuple[str, bytes, bytes]] = []
        self.calls = 0
        self.started = False
        self._gate = asyncio.Event()
        self._deliver_hung = False
        self.hung = 0
        self._none_hung = asyncio.Event()
        self._none_hung.set()
        self.partial_next = False

    async def start(self) -> None:
        if self.start_fails:
            raise BusUnavailable("fake primary refuses to start")
        self.started = True

    async def stop(self) -> None:
        self.started = False
        if self.hung:
            self.release(deliver=self.outcome_on_stop == "deliver")
            await self._none_hung.wait()

    def release(self, *, deliver: bool) -> None:
        """Settle every hung send: deliver it, or fail it; later sends follow ``mode``."""
        self._deliver_hung = deliver
        self._gate.set()
        self._gate = asyncio.Event()

    async def send_batch(self, topic: str, items: Sequence[tuple[bytes, bytes]]) -> None:
        self.calls += 1
        if self.partial_next:  # deliver the even-numbered items, fail the others, once
            self.partial_next = False
            evens = frozenset(range(0, len(items), 2))
            self.delivered.extend((topic, *items[i]) for i in sorted(evens))
            raise DeliveryFailed("fake primary lost some records", delivered=evens)
        if self.mode == "fail":
            raise DeliveryFailed("fake primary is down")
        if self.mode == "hang":
            self.hung += 1
            self._none_hung.clear()
            try:
                await self._gate.wait()
            finally:
                self.hung -= 1
                if not self.hung:
                    self._none_hung.set()
            if not self._deliver_hung:
                raise DeliveryFailed("fake primary timed out")
        self.delivered.extend((topic, key, value) for key, value in items)


async def wait_until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Poll ``condition`` (a test helper for effects of background tasks)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)


WaitUntil = Callable[..., Awaitable[None]]
