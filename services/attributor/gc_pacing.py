"""Python's cyclic garbage collector, run between micro-batches rather than during them.

A micro-batch holds tens of thousands of short-lived container objects (the consumer's
records, parsed events, rows). With the default thresholds the collector runs every 700
allocations and, again and again, walks everything the batch still holds and then the whole
heap (the web app, the models, the store client): measured on the B6 drain, half of the
event-loop thread's time went to collections that freed nothing, since a batch's objects
hold no cycles and reference counting frees them when the batch ends.

So, for the attributor's loop: the objects alive at start-up are frozen (never walked again,
`gc.freeze`), collection is paused while a batch is fetched and processed, the young
generations are collected after each batch, and everything at most every `full_every_s`.
Cyclic garbage is still collected, at the end of the batch that made it.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

FULL_EVERY_S = 30.0


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside; the collector is left as it was found."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class BatchGc:
    def __init__(
        self, full_every_s: float = FULL_EVERY_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.full_every_s = full_every_s
        self.clock = clock
        self._full_at = clock() + full_every_s

    def start(self) -> None:
        """Freeze what exists now (modules, the app, clients): it lives as long as we do."""
        gc.collect()
        gc.freeze()

    @contextmanager
    def batch(self) -> Iterator[None]:
        """No collection inside; afterwards the young generations, or all of them when
        `full_every_s` has passed. The collector is left as it was found (a caller that
        disabled it keeps it disabled, and collects when it wants)."""
        enabled = gc.isenabled()
        try:
            with gc_paused():
                yield
        finally:
            if enabled:
                if self.clock() >= self._full_at:
                    gc.collect()
                    self._full_at = self.clock() + self.full_every_s
                else:
                    gc.collect(1)
