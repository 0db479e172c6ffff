from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from services.attributor.gc_pacing import BatchGc


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def cycle() -> weakref.ref[Node]:
    a, b = Node(), Node()
    a.other, b.other = b, a
    return weakref.ref(a)


@pytest.fixture
def collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if was:  # restore exactly: a test may have disabled it
        gc.enable()
    else:
        gc.disable()


@pytest.mark.usefixtures("collector_on")
def test_no_collection_inside_a_batch_and_cycles_freed_after_it() -> None:
    pacing = BatchGc(clock=lambda: 0.0)
    with pacing.batch():
        assert not gc.isenabled()
        garbage = cycle()
        alive = [Node() for _ in range(5000)]  # far past the allocation threshold
        assert garbage() is not None  # ... and still no collection
        del alive
    assert gc.isenabled()
    assert garbage() is None  # the young generations were collected after the batch


@pytest.mark.usefixtures("collector_on")
def test_a_full_collection_once_the_interval_has_passed() -> None:
    now = [0.0]
    pacing = BatchGc(full_every_s=30.0, clock=lambda: now[0])
    counts: list[int] = []

    def seen(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            counts.append(info["generation"])

    gc.callbacks.append(seen)
    try:
        with pacing.batch():
            pass
        now[0] = 31.0
        with pacing.batch():
            pass
        with pacing.batch():
            pass
    finally:
        gc.callbacks.remove(seen)
    assert counts == [1, 2, 1]


@pytest.mark.usefixtures("collector_on")
def test_a_collector_disabled_by_the_caller_stays_disabled() -> None:
    pacing = BatchGc(clock=lambda: 0.0)
    gc.disable()
    with pacing.batch():
        pass
    assert not gc.isenabled()


@pytest.mark.usefixtures("collector_on")
def test_the_collector_is_enabled_again_when_the_batch_fails() -> None:
    pacing = BatchGc(clock=lambda: 0.0)
    with pytest.raises(RuntimeError), pacing.batch():
        raise RuntimeError("store down")
    assert gc.isenabled()
