"""The reports: run the named queries for one advertiser and range, shape the small results.

Every aggregation is done by ClickHouse (`services.reports.queries`); Python only arranges
the aggregates (pivots, the overlap matrix, the CTIT histogram) and turns the population's
distinct paths into Markov and Shapley credit (`services.reports.population`).

Definitions, per `model` (the contract's model, default last_touch). Credits the attributor
flagged (`attribution_credits.fraud_flags`, e.g. `click_flooding`) are recorded but not
credited for pay: the rollup-based figures (performance, role-mix, model-comparison) leave
them out, the quality report counts them apart, per partner and reason.
- performance: clicks / impressions by touch day and the touch's partner and campaign (bots
  and flagged touches included); installs / conversions = credited installs / conversions
  (sum of the credit weights: a count under single-touch models, fractions under the
  others) by conversion day; revenue = credited revenue before reversals, credited_revenue
  = after reversals; payouts = net payout amounts (payouts carry no campaign: with
  group_by=campaign they are under the key '', and a campaign filter leaves them out).
- role-mix: credit rows per role; a `sole` credit (one-touch journey) counts as introducer
  AND closer, and its revenue is split half and half (the odd minor unit to the introducer).
- model-comparison: net credited revenue per model; markov and shapley from the range's
  population of journeys, whatever the filters (which then only pick the rows shown);
  last_touch_delta_pct = 100 * (linear - last_touch) / last_touch (null if last_touch is 0).
- overlap: customers = identities with a clean touch (not bot, not flagged) in the range.
- quality: per partner, clicks (bot and flagged shares), CTIT of the installs naming the
  partner, and the installs credited to it under `model`: `credited_installs` (paid for),
  `flagged_installs` (won while flagged, not paid), their share and `flag_reasons`; the
  extra `flagged_installs` lists the latest flagged installs (install id, time, partner,
  reasons), newest first, at most `queries.FLAGGED_INSTALLS_LIMIT`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from services.reports import queries as q
from services.reports.params import ReportParams
from services.reports.population import PathTable, population_credit
from services.reports.store import ReportStore
from services.reports.tables import Report

HISTORY_DAYS = 365  # how far before the range a customer's first conversion is looked for


@dataclass(frozen=True, slots=True)
class Scope:
    """Whose data and which slice of it a report reads."""

    advertiser_id: str
    params: ReportParams
    lookback_days: int  # how far before a conversion its touches may be
    history_days: int = HISTORY_DAYS

    def bind(self) -> dict[str, Any]:
        return {
            **self.params.query_parameters(self.advertiser_id),
            "lookback_days": self.lookback_days,
            "history_days": self.history_days,
        }


def _simple(name: str, query: q.ReportQuery) -> Callable[[ReportStore, Scope], Report]:
    def run(store: ReportStore, scope: Scope) -> Report:
        return Report.of(
            name, query.columns, store.run(query, scope.bind()), {"model": scope.params.model}
        )

    return run


def performance(store: ReportStore, scope: Scope) -> Report:
    p = scope.params
    extras = {"model": p.model, "granularity": p.granularity, "group_by": p.group_by}
    return Report.of(
        "performance", q.PERFORMANCE.columns, store.run(q.PERFORMANCE, scope.bind()), extras
    )


MODEL_COLUMNS = (
    "partner_id", "last_touch", "first_touch", "linear", "time_decay", "position_based",
    "markov", "shapley", "last_touch_delta_pct", "role_weights",
)  # fmt: skip


def model_comparison(store: ReportStore, scope: Scope) -> Report:
    stored = store.run(q.MODEL_COMPARISON, scope.bind())
    population = population_credit(PathTable.from_rows(store.run(q.JOURNEY_PATHS, scope.bind())))
    rows, deltas = [], {}
    for partner, last, first, linear, decay, position, roles in stored:
        delta = None if last == 0 else round(100 * (linear - last) / last, 2)
        deltas[str(partner)] = delta
        markov = None if population.markov is None else population.markov.get(partner, 0)
        shapley = population.shapley.get(partner, 0)
        rows.append([partner, last, first, linear, decay, position, markov, shapley, delta, roles])
    extras = {"last_touch_delta_pct": deltas, "population": population.summary()}
    return Report.of("model-comparison", MODEL_COLUMNS, rows, extras)


def overlap(store: ReportStore, scope: Scope) -> Report:
    found = store.run(q.OVERLAP, scope.bind())
    partners = sorted({str(r[0]) for r in found} | {str(r[1]) for r in found})
    shares = {(str(a), str(b)): float(share) for a, b, _, _, share in found}
    customers = {str(a): int(n) for a, b, n, _, _ in found if a == b}
    matrix = [
        [None if a == b else shares.get((a, b), 0.0 if a in customers else None) for b in partners]
        for a in partners
    ]
    rows = [list(r) for r in found if r[0] != r[1]]
    extras = {"partners": partners, "matrix": matrix, "customers": customers}
    return Report.of("overlap", q.OVERLAP.columns, rows, extras)


def quality(store: ReportStore, scope: Scope) -> Report:
    bound = scope.bind()
    histogram: dict[str, list[int]] = {}
    for partner, bucket, installs in store.run(q.CTIT_HISTOGRAM, bound):
        counts = histogram.setdefault(str(partner), [0] * len(q.CTIT_EDGES))
        counts[int(bucket)] += int(installs)
    rejected = [{"reason": r, "count": int(n)} for r, n in store.run(q.REJECTED, bound)]
    flagged = [
        {
            "install_id": str(install),
            "installed_at": str(at),
            "partner_id": str(partner),
            "reasons": str(reasons).split(",") if reasons else [],
        }
        for install, at, partner, reasons in store.run(q.FLAGGED_INSTALLS, bound)
    ]
    extras = {
        "ctit_histogram": {"buckets": list(q.CTIT_EDGES), "partners": histogram},
        "rejected": rejected,
        "flagged_installs": flagged,
    }
    return Report.of("quality", q.QUALITY.columns, store.run(q.QUALITY, bound), extras)


REPORTS: dict[str, Callable[[ReportStore, Scope], Report]] = {
    "performance": performance,
    "role-mix": _simple("role-mix", q.ROLE_MIX),
    "model-comparison": model_comparison,
    "overlap": overlap,
    "customer-value": _simple("customer-value", q.CUSTOMER_VALUE),
    "time-to-convert": _simple("time-to-convert", q.TIME_TO_CONVERT),
    "path-length": _simple("path-length", q.PATH_LENGTH),
    "quality": quality,
}
