"""The B6 drain's CPU split: the target is judged on the attributor's own work (its Python
threads less their time inside the ClickHouse client's calls); the whole process and the
embedded engine are reported beside it, and the shares add up."""

from __future__ import annotations

import pytest

from loadtests.bench_e2e import THROUGHPUT, Drain, drain_results


def drain(events: int = 100_000) -> Drain:
    # 10 s of process CPU: 4 s on Python threads (3 on the loop), 1.5 s of it inside the
    # client's calls (chDB parsing and writing inserts there), 7.5 s on chDB's own threads
    return Drain(
        events=events,
        seconds=8.0,
        cpu_process_s=11.5,
        cpu_loop_s=3.0,
        cpu_python_s=5.5,
        cpu_store_calls_s=1.5,
        peak_rss_bytes=0.0,
    )


def test_the_cpu_is_split_between_the_attributor_and_the_embedded_engine() -> None:
    d = drain()
    assert d.cpu_own_s == pytest.approx(4.0)
    assert d.cpu_store_s == pytest.approx(7.5)
    assert d.cpu_own_s + d.cpu_store_s == pytest.approx(d.cpu_process_s)
    assert d.rate == pytest.approx(12_500)


def test_the_target_is_judged_on_the_attributors_own_work_only() -> None:
    results = drain_results([drain(), drain(120_000)], 300_000)
    judged = [r for r in results if r.target is not None]
    assert len(judged) == 1
    assert judged[0].target == THROUGHPUT
    own = judged[0]
    assert "Kafka -> ClickHouse" in own.name
    assert "own work" in own.name
    assert own.values == pytest.approx((25_000, 30_000))
    assert own.verdict.startswith("MISSED")
    by_name = {r.name: r for r in results}
    whole = next(r for n, r in by_name.items() if "whole process" in n)
    engine = next(r for n, r in by_name.items() if "embedded ClickHouse engine" in n)
    wall = next(r for n, r in by_name.items() if "wall" in n)
    assert whole.values[0] == pytest.approx(100_000 / 11.5)
    assert engine.values[0] == pytest.approx(100_000 / 7.5)
    assert wall.values[0] == pytest.approx(12_500)
    assert wall.unit == ""
    assert whole.target is engine.target is wall.target is None
