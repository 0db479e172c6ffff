"""Our engine beside two PyPI attribution libraries, on one synthetic population, in one run.

    .venv/bin/python -m loadtests.bench_engine_peers --touches 200000 --json peers.json

Peers (optional; each is reported as unavailable when it does not import):
- `marketing-attribution-models` (`import mam`, polars inside): its MAM pipeline builds the
  journeys from the touch table itself (format "session"), then last/first/linear/position and
  Markov (removal effect, exact, by matrix inversion per channel).
- `ChannelAttribution` (C++; needs matplotlib to import): takes aggregated path strings, so its
  timed pipeline includes building them with pandas (sort, group, join, count); heuristics
  (first/last/linear) and Markov (removal effect by simulation, `nsim_start`).

Every pipeline is timed from its raw input to per-partner totals, in CPU seconds of the
process (pinned to one core; a neighbour's load does not count). Ours: `attribute` over the
touch and conversion columns (journeys, roles, exact money), then a bincount per model; our
Markov: the population of the engine's journeys (`population_from_touches`: converting paths
plus the touches that led nowhere, the journeys `population_from_credits` takes from LINEAR
credits) and the exact absorbing-chain solve. Building our input columns is not timed, like
the peers' input tables. The population is built so that every path is the same
for everyone: clicks only, one conversion at most per visitor, one hour after its last click,
all clicks inside the 30-day window. The peers get the partner as a string and the conversion
flag and value on the visitor's last touch (their input format); preparing those is not timed.

Checks: per-partner totals of each heuristic equal ours up to our rounding (we credit exact
integer minor units per conversion, largest remainder; the peers divide floats, so a partner's
total may differ by less than one unit per conversion it appears in); Markov removal effects
equal mam's (both exact) and are compared with ChannelAttribution's simulated ones. The
machine is shared and noisy: compare ratios measured in the same run, not absolute times.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import platform
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from importlib import metadata
from typing import Any

import numpy as np
from numpy.typing import NDArray

from attribution.columns import Conversions, Model, Touches
from attribution.engine import attribute
from attribution.journey_population import population_from_touches
from attribution.markov import markov_attribution

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
LONG_WALKS = {"max_step": 200, "nsim_start": 1e6}
HEURISTICS = {
    "last_touch": Model.LAST_TOUCH,
    "first_touch": Model.FIRST_TOUCH,
    "linear": Model.LINEAR,
    "position_based": Model.POSITION_BASED,
}


@dataclass(frozen=True)
class Raw:
    """The touch table (one click per row) and the conversions, as the engine takes them."""

    visitor: NDArray[np.int64]
    ts_ms: NDArray[np.int64]
    partner: NDArray[np.int64]  # 0..n_partners-1
    conv_visitor: NDArray[np.int64]
    conv_ts_ms: NDArray[np.int64]
    conv_value: NDArray[np.int64]
    n_partners: int


def synthesize(n_touches: int, n_partners: int, seed: int) -> Raw:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 7, size=n_touches // 3 + 1)
    lengths = lengths[np.cumsum(lengths) <= n_touches]
    n_visitors = lengths.shape[0]
    visitor = np.repeat(np.arange(n_visitors, dtype=np.int64), lengths)
    start = np.asarray(rng.integers(0, 60 * DAY_MS, size=n_visitors), dtype=np.int64)
    gaps = rng.integers(1, 4 * DAY_MS, size=visitor.shape[0])  # < 30 days over 6 clicks
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    within = np.cumsum(gaps) - np.repeat(
        np.cumsum(gaps)[offsets[:-1]] - gaps[offsets[:-1]], lengths
    )
    ts = 1_700_000_000_000 + start[visitor] + within
    # Skewed popularity; a partner's odds of closing differ, so the models disagree.
    popularity = 1.0 / np.arange(1, n_partners + 1) ** 0.8
    partner = rng.choice(n_partners, visitor.shape[0], p=popularity / popularity.sum())
    closer_power = rng.random(n_partners)
    last = offsets[1:] - 1
    converts = rng.random(n_visitors) < 0.15 + 0.3 * closer_power[partner[last]]
    conv_visitor = np.flatnonzero(converts).astype(np.int64)
    return Raw(
        visitor=visitor,
        ts_ms=ts.astype(np.int64),
        partner=partner.astype(np.int64),
        conv_visitor=conv_visitor,
        conv_ts_ms=(ts[last[conv_visitor]] + HOUR_MS).astype(np.int64),
        conv_value=rng.integers(100, 20_000, conv_visitor.shape[0]).astype(np.int64),
        n_partners=n_partners,
    )


REPEAT = [1]  # set from --repeat: each timed step runs this many times, the fastest counts


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    best = float("inf")
    out: Any = None
    for _ in range(REPEAT[0]):
        start = time.process_time()
        out = fn()
        best = min(best, time.process_time() - start)
    return out, best


# ------------------------------------------------------------------------------- ours


def engine_input(raw: Raw) -> tuple[Touches, Conversions]:
    n, m = raw.visitor.shape[0], raw.conv_visitor.shape[0]
    touches = Touches(
        touch_id=np.arange(1, n + 1, dtype=np.int64),
        identity=raw.visitor + 1,
        ts_ms=raw.ts_ms,
        kind=np.ones(n, np.int8),
        partner_id=raw.partner + 1,
        campaign_id=np.zeros(n, np.int64),
        advertiser_id=np.ones(n, np.int64),
        flags=np.zeros(n, np.uint8),
    )
    conversions = Conversions(
        conversion_id=np.arange(n + 1, n + m + 1, dtype=np.int64),
        identity=raw.conv_visitor + 1,
        ts_ms=raw.conv_ts_ms,
        advertiser_id=np.ones(m, np.int64),
        event_name=np.full(m, 7, np.int64),
        order_id=np.zeros(m, np.int64),
        revenue=raw.conv_value,
        currency=np.zeros(m, np.int64),
    )
    return touches, conversions


def ours_heuristics(
    touches: Touches, conversions: Conversions, n_partners: int
) -> dict[str, list[float]]:
    credits = attribute(touches, conversions, models=tuple(HEURISTICS.values()))
    totals = {}
    for name, model in HEURISTICS.items():
        rows = credits.model == model
        totals[name] = np.bincount(
            credits.partner_id[rows] - 1,
            weights=credits.credited_revenue[rows],
            minlength=n_partners,
        ).tolist()
    return totals


def ours_markov(
    touches: Touches, conversions: Conversions, n_partners: int
) -> tuple[list[float], list[float]]:
    result = markov_attribution(population_from_touches(touches, conversions))
    value = np.zeros(n_partners)
    effect = np.zeros(n_partners)
    value[result.partner_ids - 1] = result.credited_value
    effect[result.partner_ids - 1] = result.removal_effect
    return value.tolist(), effect.tolist()


# -------------------------------------------------------------------------------- peers


def names(n_partners: int) -> list[str]:
    return [f"partner_{i:03d}" for i in range(n_partners)]


def session_table(raw: Raw) -> dict[str, Any]:
    """Touch rows with the conversion flag and value on each converting visitor's last touch."""
    last = np.flatnonzero(np.diff(raw.visitor, append=-1) != 0)
    has_conv = np.zeros(raw.visitor.shape[0], bool)
    value = np.zeros(raw.visitor.shape[0])
    has_conv[last[raw.conv_visitor]] = True
    value[last[raw.conv_visitor]] = raw.conv_value
    return {
        "user_id": raw.visitor,
        "ts": raw.ts_ms.astype("datetime64[ms]"),
        "channel": np.array(names(raw.n_partners))[raw.partner],
        "has_conv": has_conv,
        "value": value,
    }


def by_partner(pairs: Iterator[tuple[str, float]], n_partners: int) -> list[float]:
    index = {name: i for i, name in enumerate(names(n_partners))}
    out = [0.0] * n_partners
    for name, value in pairs:
        out[index[str(name)]] = float(value)
    return out


def mam_pipeline(raw: Raw) -> dict[str, Any]:
    import mam  # type: ignore[import-untyped]
    import polars as pl

    frame = pl.DataFrame(session_table(raw))

    def build() -> Any:
        return mam.MAM(
            frame,
            format_type="session",
            channels_colname="channel",
            journey_with_conv_colname="has_conv",
            datetime_colname="ts",
            user_id_colname="user_id",
            conversion_value_colname="value",
        )

    model, build_s = timed(build)
    runs = {
        "last_touch": model.run_last_click,
        "first_touch": model.run_first_click,
        "linear": model.run_linear,
        "position_based": model.run_position_based,
    }
    out: dict[str, Any] = {"build_s": build_s, "totals": {}, "seconds": {}}
    for name, run in runs.items():
        result, seconds = timed(run)
        out["totals"][name] = by_partner(result.to_polars().iter_rows(), raw.n_partners)
        out["seconds"][name] = seconds
    markov, seconds = timed(lambda: model.run_markov(transition_to_same_state=False))
    effects = markov.metadata["removal_effect"]["removal_effect"]
    out["markov_removal_effect"] = by_partner(iter(effects.items()), raw.n_partners)
    out["seconds"]["markov"] = seconds
    return out


def ca_pipeline(raw: Raw) -> dict[str, Any]:
    import pandas as pd  # type: ignore[import-untyped]

    with contextlib.redirect_stdout(io.StringIO()):
        import ChannelAttribution as ca  # type: ignore[import-untyped]

    touches = pd.DataFrame(session_table(raw))

    def paths() -> Any:
        ordered = touches.sort_values(["user_id", "ts"], kind="stable")
        journeys = ordered.groupby("user_id", sort=False).agg(
            path=("channel", " > ".join), conv=("has_conv", "any"), value=("value", "sum")
        )
        grouped = journeys.groupby("path", sort=False).agg(
            total_conversions=("conv", "sum"),
            total_conversion_value=("value", "sum"),
            journeys=("conv", "size"),
        )
        grouped["total_null"] = grouped["journeys"] - grouped["total_conversions"]
        return grouped.reset_index()

    data, path_s = timed(paths)
    out: dict[str, Any] = {"build_s": path_s, "totals": {}, "seconds": {}}
    with contextlib.redirect_stdout(io.StringIO()):
        heur, seconds = timed(
            lambda: ca.heuristic_models(
                data,
                "path",
                "total_conversions",
                var_value="total_conversion_value",
                sep=">",
                flg_pro=False,
            )
        )
    out["seconds"]["heuristics"] = seconds
    for ours, theirs in (("last_touch", "last"), ("first_touch", "first"), ("linear", "linear")):
        column = f"{theirs}_touch_value"
        pairs = zip(heur["channel_name"].str.strip(), heur[column], strict=True)
        out["totals"][ours] = by_partner(pairs, raw.n_partners)
    # Defaults: `max_step` is the longest observed path, so simulated walks that loop longer
    # are cut (counted as no conversion): a bias, not noise. The second run lifts the cap and
    # simulates more, to show the simulation converging to the exact removal effects.
    markov = partial(
        ca.markov_model,
        data,
        "path",
        "total_conversions",
        var_value="total_conversion_value",
        var_null="total_null",
        order=1,
        out_more=True,
        sep=">",
        verbose=False,
        flg_pro=False,
    )
    for label, extra in (("markov", {}), ("markov_long_walks", LONG_WALKS)):
        with contextlib.redirect_stdout(io.StringIO()):
            res, seconds = timed(partial(markov, **extra))
        out["seconds"][label] = seconds
        result, effects = res["result"], res["removal_effects"]
        out[f"{label}_value"] = by_partner(
            zip(result["channel_name"].str.strip(), result["total_conversion_value"], strict=True),
            raw.n_partners,
        )
        out[f"{label}_removal_effect"] = by_partner(
            zip(
                effects["channel_name"].str.strip(),
                effects["removal_effects_conversion"],
                strict=True,
            ),
            raw.n_partners,
        )
    return out


# ----------------------------------------------------------------------------- report


def compare(
    ours: list[float], theirs: list[float], bound: NDArray[np.int64] | None = None
) -> dict[str, Any]:
    """Largest differences per partner; with `bound`, whether every |diff| < bound[partner]."""
    a, b = np.array(ours), np.array(theirs)
    diff = np.abs(a - b)
    out: dict[str, Any] = {
        "max_abs_diff": float(diff.max()),
        "max_rel_diff": float((diff / np.maximum(np.abs(b), 1e-12)).max()),
        "sum_ours": float(a.sum()),
        "sum_theirs": float(b.sum()),
    }
    if bound is not None:
        out["within_rounding_bound"] = bool((diff < np.maximum(bound, 1)).all())
    return out


def version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--touches", type=int, default=200_000)
    parser.add_argument("--partners", type=int, default=25)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="runs per step; fastest counts")
    parser.add_argument("--json", dest="json_out", help="write the report as JSON here")
    args = parser.parse_args(argv)
    REPEAT[0] = max(1, args.repeat)

    raw = synthesize(args.touches, args.partners, args.seed)
    in_converting = np.isin(raw.visitor, raw.conv_visitor)
    touches_converting = np.bincount(raw.partner[in_converting], minlength=raw.n_partners)
    report: dict[str, Any] = {
        "touches": int(raw.visitor.shape[0]),
        "journeys": int(raw.visitor.max() + 1),
        "conversions": int(raw.conv_visitor.shape[0]),
        "partners": raw.n_partners,
        "repeat": REPEAT[0],
        "python": platform.python_version(),
        "versions": {
            p: version(p)
            for p in (
                "numpy",
                "marketing-attribution-models",
                "ChannelAttribution",
                "polars",
                "pandas",
            )
        },
    }
    touches, conversions = engine_input(raw)  # our input tables; the peers' are not timed either
    heuristics, ours_h_s = timed(lambda: ours_heuristics(touches, conversions, raw.n_partners))
    (markov_value, markov_effect), ours_m_s = timed(
        lambda: ours_markov(touches, conversions, raw.n_partners)
    )
    # The touch table comes ordered by visitor and time (as the peers get it), which the
    # engine notices and uses; the same rows shuffled show what that is worth.
    shuffled = touches.take(np.random.default_rng(args.seed).permutation(len(touches)))
    (shuffled_value, _), ours_m_shuffled_s = timed(
        lambda: ours_markov(shuffled, conversions, raw.n_partners)
    )
    assert shuffled_value == markov_value
    report["ours"] = {
        "heuristics_4_models_s": ours_h_s,
        "markov_s": ours_m_s,
        "markov_rows_shuffled_s": ours_m_shuffled_s,
    }
    report["ours_markov_value"] = markov_value

    for name, pipeline in (("mam", mam_pipeline), ("channelattribution", ca_pipeline)):
        try:
            peer = pipeline(raw)
        except Exception as exc:  # a peer that fails is reported, not fatal
            report[name] = {"error": f"{type(exc).__name__}: {exc}"}
            continue
        checks = {
            m: compare(heuristics[m], t, touches_converting) for m, t in peer["totals"].items()
        }
        heuristic_s = peer["build_s"] + sum(s for m, s in peer["seconds"].items() if m != "markov")
        report[name] = {
            "path_building_s": peer["build_s"],
            "heuristics_s": heuristic_s,
            "heuristics_models": sorted(peer["totals"]),
            "markov_s": peer["build_s"] + peer["seconds"]["markov"],
            "heuristic_checks": checks,
            "markov_removal_effect_check": compare(markov_effect, peer["markov_removal_effect"]),
        }
        if "markov_value" in peer:
            report[name]["markov_value_check"] = compare(markov_value, peer["markov_value"])
        if "markov_long_walks_value" in peer:
            report[name]["markov_long_walks_s"] = peer["seconds"]["markov_long_walks"]
            report[name]["markov_long_walks_removal_effect_check"] = compare(
                markov_effect, peer["markov_long_walks_removal_effect"]
            )
            report[name]["markov_long_walks_value_check"] = compare(
                markov_value, peer["markov_long_walks_value"]
            )
        report[name]["ratio_heuristics_theirs_over_ours"] = heuristic_s / ours_h_s
        report[name]["ratio_markov_theirs_over_ours"] = report[name]["markov_s"] / ours_m_s
    # Our split rounds each conversion's touches to whole units: a partner's total may differ
    # from an exact float split by less than one unit per touch it has in converting paths.
    report["rounding_bound_per_partner"] = touches_converting.tolist()

    text = json.dumps(report, indent=2)
    print(text)
    if args.json_out:
        with open(args.json_out, "w") as out:
            out.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
