"""Benchmark of the heuristic attribution engine, measured side by side in one run.

    python loadtests/bench_engine_core.py --touches 1000000 --rounds 3 --json bench.json

On one synthetic population of N touches it times: a plain `numpy.argsort` of N int64 keys
(the yardstick), each heuristic model alone, all of them in one pass, the plain-Python
reference on whole journeys holding `--reference-touches` touches (all N when it is at least
N), and the memory that `JourneyState` holds per retained touch. Each figure is the best of
`--rounds` runs, in CPU seconds of the process (a neighbour's load does not count), and the
runs are interleaved so that a noisy neighbour slows every measure alike.

The reference is compared per touch. Its speed per touch depends on the size of its input (it
holds an object and dict entries per touch: 20k touches run ~1.5x faster per touch than 1M,
~2.2x faster than 10M), so it is timed on as large an input as is practical, and also on a
small sample (`--small-reference-touches`, reported for comparison only).

Targets (issue 5): heuristic models >= 2M touches/s on one core, >= 0.3x the throughput of
the argsort, >= 50x faster than the reference; <= 100 bytes of state per retained touch.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from attribution.columns import Conversions, Model, Touches
from attribution.engine import EngineConfig, attribute
from attribution.ids import INSTALL_EVENT, hash_id
from attribution.reference import reference_attribute
from attribution.state import JourneyState
from attribution.windows import DAY_MS

HEURISTIC = (Model.LAST_TOUCH, Model.FIRST_TOUCH, Model.LINEAR, Model.TIME_DECAY,
             Model.POSITION_BASED, Model.ROLE_WEIGHTS)  # fmt: skip
START_MS = 1_700_000_000_000
SPAN_DAYS = 60
TARGETS = {"touches_per_s": 2e6, "vs_argsort": 0.3, "vs_reference": 50.0, "bytes_per_touch": 100}


def population(n: int, seed: int = 0) -> tuple[Touches, Conversions]:
    """N touches in journeys of ~4 touches (geometric), 20 advertisers, 500 partners.

    70% clicks, 1% bot-flagged; touches of an identity 2 days apart on average over 60 days;
    half of the identities convert within a day of their last touch, 10% of them once more
    halfway, and 5% of the conversions are installs. Rows come in time order, as a stream.
    """
    rng = np.random.default_rng(seed)
    counts = rng.geometric(0.25, n)
    ends = np.cumsum(counts)
    k = int(np.searchsorted(ends, n)) + 1
    counts = counts[:k]
    counts[-1] -= int(ends[k - 1]) - n
    owner = np.repeat(np.arange(k), counts)
    identity = rng.integers(1, 2**62, k)
    advertiser = rng.integers(1, 21, k)
    start = START_MS + rng.integers(0, SPAN_DAYS * DAY_MS, k)
    gap = rng.exponential(2 * DAY_MS, n).astype(np.int64)
    first = np.cumsum(counts) - counts
    elapsed = np.cumsum(gap)
    ts = start[owner] + elapsed - np.repeat(elapsed[first] - gap[first], counts)
    touches = Touches(
        touch_id=rng.integers(1, 2**62, n),
        identity=identity[owner],
        ts_ms=ts,
        kind=(rng.random(n) < 0.7).astype(np.int8),
        partner_id=rng.integers(1, 501, n),
        campaign_id=rng.integers(1, 2001, n),
        advertiser_id=advertiser[owner],
        flags=(rng.random(n) < 0.01).astype(np.uint8),
    )
    last = ts[first + counts - 1]
    converts = np.flatnonzero(rng.random(k) < 0.5)
    again = converts[rng.random(converts.shape[0]) < 0.1]
    who = np.concatenate([converts, again])
    when = np.concatenate([
        last[converts] + rng.integers(1, DAY_MS, converts.shape[0]),
        (start[again] + last[again]) // 2,
    ])  # fmt: skip
    m = int(who.shape[0])
    event = np.where(rng.random(m) < 0.05, INSTALL_EVENT, hash_id("purchase")).astype(np.int64)
    conversions = Conversions(
        conversion_id=rng.integers(1, 2**62, size=m),
        identity=identity[who],
        ts_ms=when,
        advertiser_id=advertiser[who],
        event_name=event,
        order_id=np.zeros(m, np.int64),
        revenue=rng.integers(100, 100_000, size=m),
        currency=np.full(m, 978, np.int64),
    )
    return touches.take(np.argsort(ts, kind="stable")), conversions.take(np.argsort(when))


def sample(touches: Touches, conversions: Conversions, n: int) -> tuple[Touches, Conversions]:
    """Whole journeys (all rows of some identities) holding about n touches (all: n >= N)."""
    if n >= len(touches):
        return touches, conversions
    ids = np.unique(touches.identity)
    picked = np.random.default_rng(1).permutation(ids)[: max(1, int(len(ids) * n / len(touches)))]
    return touches.take(np.isin(touches.identity, picked)), conversions.take(
        np.isin(conversions.identity, picked)
    )


def best_of(rounds: int, cases: dict[str, Callable[[], object]]) -> dict[str, float]:
    best = dict.fromkeys(cases, float("inf"))
    for _ in range(rounds):
        for name, run in cases.items():
            began = time.process_time()
            run()
            best[name] = min(best[name], time.process_time() - began)
    return best


def reference_rates(
    touches: Touches, conversions: Conversions, config: EngineConfig
) -> dict[str, float]:
    """Touches per CPU second of the plain-Python reference, per case (one run each)."""
    cases: dict[str, Callable[[], object]] = {
        m.name.lower(): functools.partial(reference_attribute, touches, conversions, config, (m,))
        for m in HEURISTIC
    }
    cases["all_heuristic"] = functools.partial(
        reference_attribute, touches, conversions, config, HEURISTIC
    )
    return {name: len(touches) / s for name, s in best_of(1, cases).items()}


def state_bytes(
    touches: Touches, conversions: Conversions, config: EngineConfig
) -> dict[str, float]:
    """Feed the stream to a JourneyState in 10 time slices, watermark at each slice's start;
    report the slice where it held the most touches."""
    state = JourneyState(config)
    edges = np.linspace(touches.ts_ms.min(), conversions.ts_ms.max() + 1, 11).astype(np.int64)
    peak = {"bytes_per_touch": 0.0, "retained_touches": 0.0, "retained_marks": 0.0}
    for lo, hi in itertools.pairwise(edges.tolist()):
        t = touches.take((touches.ts_ms >= lo) & (touches.ts_ms < hi))
        c = conversions.take((conversions.ts_ms >= lo) & (conversions.ts_ms < hi))
        state.append(t, c, watermark_ms=int(lo))
        if state.retained_touches > peak["retained_touches"]:
            peak = {"bytes_per_touch": state.bytes_per_touch,
                    "retained_touches": float(state.retained_touches),
                    "retained_marks": float(state.retained_marks)}  # fmt: skip
    return peak


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--touches", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--reference-touches", type=int, default=1_000_000)
    parser.add_argument("--small-reference-touches", type=int, default=20_000)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    touches, conversions = population(args.touches)
    n = len(touches)
    config = EngineConfig()
    keys = np.random.default_rng(2).integers(np.iinfo(np.int64).min, np.iinfo(np.int64).max, n)
    cases: dict[str, Callable[[], object]] = {"argsort": lambda: np.argsort(keys)}
    for model in HEURISTIC:
        cases[model.name.lower()] = functools.partial(
            attribute, touches, conversions, config, (model,)
        )
    cases["all_heuristic"] = functools.partial(attribute, touches, conversions, config, HEURISTIC)
    seconds = best_of(args.rounds, cases)

    ref_t, ref_c = sample(touches, conversions, args.reference_touches)
    ref_rates = reference_rates(ref_t, ref_c, config)
    small_t, small_c = sample(touches, conversions, args.small_reference_touches)
    small_rates = reference_rates(small_t, small_c, config)

    argsort_rate = n / seconds["argsort"]
    rows = []
    for name, s in seconds.items():
        rate = n / s
        ref_rate, small_rate = ref_rates.get(name), small_rates.get(name)
        rows.append({
            "case": name, "seconds": s, "touches_per_s": rate, "vs_argsort": rate / argsort_rate,
            "vs_reference": None if ref_rate is None else rate / ref_rate,
            "reference_touches_per_s": ref_rate,
            "vs_small_reference": None if small_rate is None else rate / small_rate,
            "small_reference_touches_per_s": small_rate,
        })  # fmt: skip
    state = state_bytes(touches, conversions, config)
    report = {
        "touches": n,
        "conversions": len(conversions),
        "rounds": args.rounds,
        "reference_sample_touches": len(ref_t),
        "small_reference_sample_touches": len(small_t),
        "results": rows,
        "state": state,
        "targets": TARGETS,
        "machine": {"python": platform.python_version(), "numpy": np.__version__,
                    "processor": platform.processor() or platform.machine()},
    }  # fmt: skip
    print(f"{n:,} touches, {len(conversions):,} conversions, best of {args.rounds} "
          f"(reference on {len(ref_t):,} touches, small sample {len(small_t):,})")  # fmt: skip
    print(f"{'case':<16}{'seconds':>10}{'touches/s':>14}{'vs argsort':>12}{'vs reference':>14}"
          f"{'vs small sample':>17}")  # fmt: skip
    for r in rows:
        ref = "" if r["vs_reference"] is None else f"{r['vs_reference']:.0f}x"
        small = "" if r["vs_small_reference"] is None else f"{r['vs_small_reference']:.0f}x"
        print(f"{r['case']:<16}{r['seconds']:>10.3f}{r['touches_per_s']:>14,.0f}"
              f"{r['vs_argsort']:>11.2f}x{ref:>14}{small:>17}")  # fmt: skip
    kept = f"{state['retained_touches']:,.0f} touches, {state['retained_marks']:,.0f} marks"
    print(f"JourneyState: {state['bytes_per_touch']:.1f} bytes per retained touch (peak: {kept})")
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":
    main()
