"""Every SQL query of the reports, named and parameterised: the API and Grafana run this text.

Placeholders are ClickHouse query parameters (`{name:Type}`), bound by the server:
`advertiser_id`, `date_from` / `date_to` (Date, from inclusive, to exclusive), `model`,
the filters `partner_id`, `partner_type`, `campaign_id` ('' = no filter), `granularity`,
`group_by`, `lookback_days` / `history_days` (UInt16), and, for one conversion,
`conversion_id`, `identity`, `since_ms`, `until_ms`. `services.reports.grafana` rewrites the
same placeholders into Grafana variables and macros.

Every query starts from the sorting-key prefix of the table it reads: `advertiser_id`, then
(events) the event type and `toDate(ts)`, (rollups) `day`, (credits, payouts)
`toDate(conversion_ts)`, so a report reads the advertiser's date range, never the table.
The rollups (`events_daily`, `credits_daily`, `payouts_daily`, schemas/clickhouse/005) serve
the performance, role-mix, model-comparison and quality counts; the journey-level reports
(overlap, customer value, time to convert, path length, the Markov / Shapley population)
need per-identity or per-conversion detail and read the base tables.

Flagged credits (`attribution_credits.fraud_flags`, e.g. `click_flooding`) are not in the
credited measures of `credits_daily` but in its `flagged_*` ones (schemas/clickhouse/022);
the quality report shows them per partner with their reasons (`FLAGGED_INSTALL_CREDITS`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PLACEHOLDER = re.compile(r"\{(\w+):([A-Za-z0-9()]+)\}")

# ----------------------------------------------------------------------- shared fragments
# A filter left empty matches everything: one text serves every combination of filters.
FILTER_EXPR = (
    "({partner_id:String} = '' OR partner_id = {partner_id:String})"
    " AND ({partner_type:String} = '' OR partner_type = {partner_type:String})"
    " AND ({campaign_id:String} = '' OR campaign_id = {campaign_id:String})"
)
FILTERS = "\n      AND " + FILTER_EXPR
NO_FILTER = "{partner_id:String} = '' AND {partner_type:String} = '' AND {campaign_id:String} = ''"
ADVERTISER_DAYS = (
    "advertiser_id = {advertiser_id:String} AND day >= {date_from:Date} AND day < {date_to:Date}"
)
CONVERSION_DAYS = (
    "advertiser_id = {advertiser_id:String}"
    " AND toDate(conversion_ts) >= {date_from:Date} AND toDate(conversion_ts) < {date_to:Date}"
)
TOUCH_DAYS = (
    "advertiser_id = {advertiser_id:String} AND type IN ('click', 'impression')"
    " AND toDate(ts) >= {date_from:Date} AND toDate(ts) < {date_to:Date}"
)
CLEAN_TOUCH = "NOT is_bot AND empty(fraud_flags)"
# Install credits the attributor flagged (attribution_credits.fraud_flags, e.g. click_flooding):
# recorded, not paid, and counted apart from the credited ones (credits_daily.flagged_*).
FLAGGED_INSTALL_CREDITS = CONVERSION_DAYS + (
    " AND model = {model:String} AND event_name = 'install' AND NOT is_reversal"
    " AND notEmpty(fraud_flags)"
)
FLAGGED_INSTALLS_LIMIT = 100
# Click-to-install time: as reported by the sender, else from the click time it names.
CTIT = (
    "coalesce(ctit_seconds, if(isNull(click_ts), NULL,"
    " toFloat64(dateDiff('millisecond', click_ts, ts)) / 1000))"
)
CTIT_EDGES: tuple[int, ...] = (0, 10, 60, 300, 1800, 3600, 21600, 86400)
TIME_BUCKETS: tuple[tuple[str, int | None], ...] = (
    ("<1h", 3600),
    ("1-6h", 6 * 3600),
    ("6-24h", 24 * 3600),
    ("1-3d", 3 * 86400),
    ("3-7d", 7 * 86400),
    ("7-14d", 14 * 86400),
    ("14-30d", 30 * 86400),
    (">30d", None),
)


@dataclass(frozen=True, slots=True)
class ReportQuery:
    name: str
    title: str
    sql: str
    columns: tuple[str, ...]

    def parameters(self) -> dict[str, str]:
        """Placeholder name -> ClickHouse type, in order of first use."""
        found: dict[str, str] = {}
        for name, kind in PLACEHOLDER.findall(self.sql):
            found.setdefault(name, kind)
        return found


def _names(text: str) -> tuple[str, ...]:
    return tuple(text.split())


def _bucket_counts() -> str:
    parts, low = [], 0
    for _, high in TIME_BUCKETS:
        upper = f" AND seconds < {high}" if high is not None else ""
        parts.append(f"countIf(seconds >= {low}{upper})")
        low = high or low
    return "[" + ", ".join(parts) + "]"


def _bucket_labels() -> str:
    return "[" + ", ".join(f"'{label}'" for label, _ in TIME_BUCKETS) + "]"


# ------------------------------------------------------------------------------- reports
PERFORMANCE = ReportQuery(
    name="performance",
    title="Performance per period",
    columns=_names(
        "period key clicks impressions installs conversions revenue credited_revenue payouts"
    ),
    sql="""
SELECT
    toString(multiIf({granularity:String} = 'week', toStartOfWeek(day, 1),
                     {granularity:String} = 'month', toStartOfMonth(day), day)) AS period,
    toString(multiIf({group_by:String} = 'partner_type', partner_type,
                     {group_by:String} = 'campaign', campaign_id, partner_id)) AS key,
    sum(clicks) AS clicks,
    sum(impressions) AS impressions,
    round(sum(installs), 6) AS installs,
    round(sum(conversions), 6) AS conversions,
    sum(revenue) AS revenue,
    sum(credited_revenue) AS credited_revenue,
    sum(payouts) AS payouts
FROM
(
    SELECT day, toString(partner_id) AS partner_id, toString(partner_type) AS partner_type,
           toString(campaign_id) AS campaign_id,
           sumIf(events, type = 'click') AS clicks,
           sumIf(events, type = 'impression') AS impressions,
           toFloat64(0) AS installs, toFloat64(0) AS conversions, toInt64(0) AS revenue,
           toInt64(0) AS credited_revenue, toInt64(0) AS payouts
    FROM events_daily
    WHERE """
    + ADVERTISER_DAYS
    + " AND type IN ('click', 'impression')"
    + FILTERS
    + """
    GROUP BY day, partner_id, partner_type, campaign_id
    UNION ALL
    SELECT day, toString(partner_id), toString(partner_type), toString(campaign_id),
           toUInt64(0), toUInt64(0),
           sumIf(weight, event_name = 'install'), sumIf(weight, event_name != 'install'),
           sum(gross_revenue), sum(credited_revenue), toInt64(0)
    FROM credits_daily
    WHERE """
    + ADVERTISER_DAYS
    + " AND model = {model:String}"
    + FILTERS
    + """
    GROUP BY day, partner_id, partner_type, campaign_id
    UNION ALL
    SELECT day, toString(partner_id), toString(partner_type), '',
           toUInt64(0), toUInt64(0), toFloat64(0), toFloat64(0), toInt64(0), toInt64(0),
           sum(amount)
    FROM payouts_daily
    WHERE """
    + ADVERTISER_DAYS
    + """
      AND ({partner_id:String} = '' OR partner_id = {partner_id:String})
      AND ({partner_type:String} = '' OR partner_type = {partner_type:String})
      AND {campaign_id:String} = ''
    GROUP BY day, partner_id, partner_type
)
GROUP BY period, key
ORDER BY period, key
""",
)

ROLE_MIX = ReportQuery(
    name="role_mix",
    title="Role mix per partner",
    columns=_names(
        "partner_id introducer_count influencer_count closer_count introducer_revenue "
        "influencer_revenue closer_revenue"
    ),
    sql="""
SELECT
    toString(partner_id) AS partner_id,
    sumIf(credits, role IN ('introducer', 'sole')) AS introducer_count,
    sumIf(credits, role = 'influencer') AS influencer_count,
    sumIf(credits, role IN ('closer', 'sole')) AS closer_count,
    sumIf(credited_revenue, role = 'introducer')
        + (sumIf(credited_revenue, role = 'sole')
           - intDiv(sumIf(credited_revenue, role = 'sole'), 2)) AS introducer_revenue,
    sumIf(credited_revenue, role = 'influencer') AS influencer_revenue,
    sumIf(credited_revenue, role = 'closer')
        + intDiv(sumIf(credited_revenue, role = 'sole'), 2) AS closer_revenue
FROM credits_daily
WHERE """
    + ADVERTISER_DAYS
    + " AND model = {model:String}"
    + FILTERS
    + """
GROUP BY partner_id
ORDER BY partner_id
""",
)

MODEL_COMPARISON = ReportQuery(
    name="model_comparison",
    title="Credited revenue per model",
    columns=_names(
        "partner_id last_touch first_touch linear time_decay position_based role_weights"
    ),
    sql="""
SELECT
    toString(partner_id) AS partner_id,
    sumIf(credited_revenue, model = 'last_touch') AS last_touch,
    sumIf(credited_revenue, model = 'first_touch') AS first_touch,
    sumIf(credited_revenue, model = 'linear') AS linear,
    sumIf(credited_revenue, model = 'time_decay') AS time_decay,
    sumIf(credited_revenue, model = 'position_based') AS position_based,
    sumIf(credited_revenue, model = 'role_weights') AS role_weights
FROM credits_daily
WHERE """
    + ADVERTISER_DAYS
    + FILTERS
    + """
GROUP BY partner_id
ORDER BY partner_id
""",
)

# The population of journeys for Markov and Shapley, as distinct paths with their counts.
# Converting journeys: each conversion's path, i.e. its credited touches by position (the
# union over the stored models, so a full-path model such as linear gives the whole path),
# worth its net credited revenue (one model's total); a conversion with a flagged credit
# (fraud_flags: its partner was not credited for pay) is left out. Non-converting journeys:
# per identity, its clean touches of the range that are in no credited path, oldest first.
JOURNEY_PATHS = ReportQuery(
    name="journey_paths",
    title="Journeys (distinct partner paths)",
    columns=_names("path converted journeys value"),
    sql="""
SELECT path, converted, count() AS journeys, sum(value) AS value
FROM
(
    SELECT arrayMap(step -> step.2,
                    arraySort(groupUniqArrayIf((position, toString(partner_id)), NOT is_reversal)))
               AS path,
           toUInt8(1) AS converted,
           intDiv(sum(credited_revenue), uniqExact(model)) AS value
    FROM attribution_credits
    WHERE """
    + CONVERSION_DAYS
    + """
    GROUP BY conversion_id
    HAVING countIf(notEmpty(fraud_flags)) = 0
    UNION ALL
    SELECT arrayMap(step -> step.3, arraySort(groupArray((ts, event_key, toString(partner_id)))))
               AS path,
           toUInt8(0) AS converted,
           toInt64(0) AS value
    FROM events
    WHERE """
    + TOUCH_DAYS
    + " AND "
    + CLEAN_TOUCH
    + """
      AND event_key NOT IN
      (
          SELECT touch_key FROM attribution_credits
          WHERE advertiser_id = {advertiser_id:String}
            AND toDate(conversion_ts) >= {date_from:Date}
            AND toDate(conversion_ts) < {date_to:Date} + {lookback_days:UInt16}
      )
    GROUP BY identity
)
WHERE notEmpty(path)
GROUP BY path, converted
ORDER BY converted DESC, journeys DESC, path
""",
)

# Pairs of partners sharing customers (identities with a clean touch from both); the
# diagonal (a, a) counts partner a's customers.
OVERLAP = ReportQuery(
    name="overlap",
    title="Customer overlap between partners",
    columns=_names("partner_a partner_b customers_a shared share"),
    sql="""
SELECT partner_a, partner_b, customers_a, shared, round(shared / customers_a, 6) AS share
FROM
(
    SELECT partner_a, partner_b, shared,
           max(if(partner_a = partner_b, shared, 0)) OVER (PARTITION BY partner_a) AS customers_a
    FROM
    (
        SELECT pair.1 AS partner_a, pair.2 AS partner_b, count() AS shared
        FROM
        (
            SELECT groupUniqArray(toString(partner_id)) AS partners
            FROM events
            WHERE """
    + TOUCH_DAYS
    + " AND "
    + CLEAN_TOUCH
    + """
              AND ({partner_type:String} = '' OR partner_type = {partner_type:String})
              AND ({campaign_id:String} = '' OR campaign_id = {campaign_id:String})
            GROUP BY identity
        )
        ARRAY JOIN arrayFlatten(arrayMap(a -> arrayMap(b -> (a, b), partners), partners)) AS pair
        GROUP BY partner_a, partner_b
    )
)
WHERE {partner_id:String} = '' OR partner_a = {partner_id:String}
ORDER BY partner_a, partner_b
""",
)

# A customer is an identity whose first conversion (over `history_days` before the range)
# falls in the range; its value is the revenue of its conversions from the first one on. A
# flagged introducer credit introduces nobody.
CUSTOMER_VALUE = ReportQuery(
    name="customer_value",
    title="Customer value by introducing partner",
    columns=_names(
        "introducer_partner_id customers revenue_7d revenue_30d revenue_90d per_customer_7d "
        "per_customer_30d per_customer_90d"
    ),
    sql="""
SELECT
    introducer_partner_id,
    count() AS customers,
    sum(r7) AS revenue_7d,
    sum(r30) AS revenue_30d,
    sum(r90) AS revenue_90d,
    round(revenue_7d / customers, 2) AS per_customer_7d,
    round(revenue_30d / customers, 2) AS per_customer_30d,
    round(revenue_90d / customers, 2) AS per_customer_90d
FROM
(
    SELECT v.identity, v.r7, v.r30, v.r90, i.introducer AS introducer_partner_id
    FROM
    (
        SELECT f.identity AS identity, any(f.first_id) AS first_id,
               sumIf(c.revenue, c.ts < f.first_ts + INTERVAL 7 DAY) AS r7,
               sumIf(c.revenue, c.ts < f.first_ts + INTERVAL 30 DAY) AS r30,
               sumIf(c.revenue, c.ts < f.first_ts + INTERVAL 90 DAY) AS r90
        FROM
        (
            SELECT identity, argMin(event_id, (ts, event_id)) AS first_id, min(ts) AS first_ts
            FROM events
            WHERE advertiser_id = {advertiser_id:String} AND type = 'conversion'
              AND toDate(ts) >= {date_from:Date} - {history_days:UInt16}
              AND toDate(ts) < {date_to:Date}
            GROUP BY identity
            HAVING toDate(first_ts) >= {date_from:Date}
        ) AS f
        INNER JOIN
        (
            SELECT identity, ts, revenue
            FROM events
            WHERE advertiser_id = {advertiser_id:String} AND type = 'conversion'
              AND toDate(ts) >= {date_from:Date} AND toDate(ts) < {date_to:Date} + 90
        ) AS c ON c.identity = f.identity
        WHERE c.ts >= f.first_ts
        GROUP BY f.identity
    ) AS v
    LEFT JOIN
    (
        SELECT conversion_id, argMin(toString(partner_id), position) AS introducer
        FROM attribution_credits
        WHERE """
    + CONVERSION_DAYS
    + """
          AND model = {model:String} AND role IN ('introducer', 'sole') AND NOT is_reversal
          AND empty(fraud_flags)"""
    + FILTERS
    + """
        GROUP BY conversion_id
    ) AS i ON i.conversion_id = v.first_id
    WHERE ("""
    + NO_FILTER
    + """) OR i.introducer != ''
)
GROUP BY introducer_partner_id
ORDER BY introducer_partner_id
""",
)

# From the first touch of the conversion's path (the lowest position credited under any
# model) to the conversion, for the conversions credited under `model` (and the filters).
TIME_TO_CONVERT = ReportQuery(
    name="time_to_convert",
    title="Time from first touch to conversion",
    columns=_names("bucket conversions"),
    sql="""
WITH firsts AS
(
    SELECT conversion_id, any(conversion_ts) AS converted_at,
           argMin(touch_key, position) AS first_touch
    FROM attribution_credits
    WHERE """
    + CONVERSION_DAYS
    + """ AND NOT is_reversal
    GROUP BY conversion_id
    HAVING countIf(model = {model:String} AND """
    + FILTER_EXPR
    + """) > 0
)
SELECT bucket, conversions
FROM
(
    SELECT """
    + _bucket_labels()
    + """ AS buckets,
           """
    + _bucket_counts()
    + """ AS counts
    FROM
    (
        SELECT dateDiff('second', t.touched_at, f.converted_at) AS seconds
        FROM firsts AS f
        INNER JOIN
        (
            SELECT event_key, min(ts) AS touched_at
            FROM events
            WHERE advertiser_id = {advertiser_id:String} AND type IN ('click', 'impression')
              AND toDate(ts) >= {date_from:Date} - {lookback_days:UInt16}
              AND toDate(ts) < {date_to:Date}
              AND event_key IN (SELECT first_touch FROM firsts)
            GROUP BY event_key
        ) AS t ON t.event_key = f.first_touch
    )
)
ARRAY JOIN buckets AS bucket, counts AS conversions
""",
)

PATH_LENGTH = ReportQuery(
    name="path_length",
    title="Conversions by path length",
    columns=_names("touches conversions"),
    sql="""
SELECT path_length AS touches, uniqExact(conversion_id) AS conversions
FROM attribution_credits
WHERE """
    + CONVERSION_DAYS
    + " AND model = {model:String} AND NOT is_reversal"
    + FILTERS
    + """
GROUP BY touches
ORDER BY touches
""",
)

QUALITY = ReportQuery(
    name="quality",
    title="Traffic quality per partner",
    columns=_names(
        "partner_id clicks bot_share flagged_share ctit_p10 ctit_p50 ctit_p90 installs "
        "credited_installs flagged_installs flagged_install_share flag_reasons"
    ),
    sql="""
SELECT
    partner_id,
    c.clicks AS clicks,
    if(c.clicks = 0, NULL, round(c.bots / c.clicks, 6)) AS bot_share,
    if(c.clicks = 0, NULL, round(c.flagged / c.clicks, 6)) AS flagged_share,
    if(i.timed = 0, NULL, round(i.q[1], 3)) AS ctit_p10,
    if(i.timed = 0, NULL, round(i.q[2], 3)) AS ctit_p50,
    if(i.timed = 0, NULL, round(i.q[3], 3)) AS ctit_p90,
    i.installs AS installs,
    round(w.credited, 6) AS credited_installs,
    round(w.flagged, 6) AS flagged_installs,
    if(w.credited + w.flagged = 0, NULL, round(w.flagged / (w.credited + w.flagged), 6))
        AS flagged_install_share,
    r.reasons AS flag_reasons
FROM
(
    SELECT toString(partner_id) AS partner_id, sum(events) AS clicks, sum(bot_events) AS bots,
           sum(flagged_events) AS flagged
    FROM events_daily
    WHERE """
    + ADVERTISER_DAYS
    + " AND type = 'click'"
    + FILTERS
    + """
    GROUP BY partner_id
) AS c
FULL OUTER JOIN
(
    SELECT toString(partner_id) AS partner_id, count() AS installs, count(ctit) AS timed,
           quantilesExactInclusive(0.1, 0.5, 0.9)(ctit) AS q
    FROM
    (
        SELECT partner_id, """
    + CTIT
    + """ AS ctit
        FROM events
        WHERE advertiser_id = {advertiser_id:String} AND type = 'install'
          AND toDate(ts) >= {date_from:Date} AND toDate(ts) < {date_to:Date}"""
    + FILTERS
    + """
    )
    GROUP BY partner_id
) AS i USING (partner_id)
FULL OUTER JOIN
(
    SELECT toString(partner_id) AS partner_id, sum(weight) AS credited,
           sum(flagged_weight) AS flagged
    FROM credits_daily
    WHERE """
    + ADVERTISER_DAYS
    + " AND model = {model:String} AND event_name = 'install'"
    + FILTERS
    + """
    GROUP BY partner_id
) AS w USING (partner_id)
LEFT JOIN
(
    SELECT toString(partner_id) AS partner_id,
           arrayStringConcat(arraySort(groupUniqArrayArray(fraud_flags)), ',') AS reasons
    FROM attribution_credits
    WHERE """
    + FLAGGED_INSTALL_CREDITS
    + FILTERS
    + """
    GROUP BY partner_id
) AS r USING (partner_id)
ORDER BY partner_id
""",
)

# The latest flagged installs (at most FLAGGED_INSTALLS_LIMIT): which installs a partner won
# while flagged (click_flooding), credited but not paid, and why.
FLAGGED_INSTALLS = ReportQuery(
    name="flagged_installs",
    title="Flagged installs (not paid)",
    columns=_names("install_id installed_at partner_id reasons"),
    sql="""
SELECT conversion_id AS install_id,
       formatDateTime(min(conversion_ts), '%Y-%m-%dT%H:%i:%SZ', 'UTC') AS installed_at,
       toString(partner_id) AS partner_id,
       arrayStringConcat(arraySort(groupUniqArrayArray(fraud_flags)), ',') AS reasons
FROM attribution_credits
WHERE """
    + FLAGGED_INSTALL_CREDITS
    + FILTERS
    + """
GROUP BY install_id, partner_id
ORDER BY installed_at DESC, install_id, partner_id
LIMIT """
    + str(FLAGGED_INSTALLS_LIMIT)
    + "\n",
)

CTIT_HISTOGRAM = ReportQuery(
    name="ctit_histogram",
    title="Installs per click-to-install time bucket",
    columns=_names("partner_id bucket installs"),
    sql="""
SELECT toString(partner_id) AS partner_id,
       greatest(arrayCount(edge -> edge <= ctit, """
    + "["
    + ", ".join(str(e) for e in CTIT_EDGES)
    + "]"
    + """) - 1, 0) AS bucket,
       count() AS installs
FROM
(
    SELECT partner_id, """
    + CTIT
    + """ AS ctit
    FROM events
    WHERE advertiser_id = {advertiser_id:String} AND type = 'install'
      AND toDate(ts) >= {date_from:Date} AND toDate(ts) < {date_to:Date}"""
    + FILTERS
    + """
)
WHERE isNotNull(ctit)
GROUP BY partner_id, bucket
ORDER BY partner_id, bucket
""",
)

REJECTED = ReportQuery(
    name="rejected",
    title="Rejected events by reason",
    columns=_names("reason count"),
    sql="""
SELECT toString(reason) AS reason, count() AS count
FROM rejected_events
WHERE advertiser_id = {advertiser_id:String}
  AND toDate(received_at) >= {date_from:Date} AND toDate(received_at) < {date_to:Date}
GROUP BY reason
ORDER BY count DESC, reason
""",
)

# ------------------------------------------------------------------------ one conversion
CONVERSION = ReportQuery(
    name="conversion",
    title="One conversion",
    columns=_names("event_id type identity ts_ms event_name order_id revenue currency"),
    sql="""
SELECT event_id, toString(type) AS type, identity, toUnixTimestamp64Milli(ts) AS ts_ms,
       toString(event_name) AS event_name, order_id, revenue, toString(currency) AS currency
FROM events
WHERE advertiser_id = {advertiser_id:String} AND type IN ('conversion', 'install')
  AND event_id = {conversion_id:String}
LIMIT 1
""",
)

# The journey key's events around one conversion, as the attributor read them (payloads).
JOURNEY_EVENTS = ReportQuery(
    name="journey_events",
    title="Events of one journey key",
    columns=_names("kafka_topic kafka_partition kafka_offset payload received_ms"),
    sql="""
SELECT toString(kafka_topic) AS kafka_topic, kafka_partition, kafka_offset, payload,
       toUnixTimestamp64Milli(received_at) AS received_ms
FROM events
WHERE advertiser_id = {advertiser_id:String}
  AND type IN ('click', 'impression', 'conversion', 'install')
  AND identity = {identity:String}
  AND ts >= fromUnixTimestamp64Milli({since_ms:Int64})
  AND ts <= fromUnixTimestamp64Milli({until_ms:Int64})
ORDER BY ts, kafka_partition, kafka_offset
LIMIT 1 BY event_id
LIMIT 10000
""",
)

STORED_CREDITS = ReportQuery(
    name="stored_credits",
    title="Stored credits of one conversion",
    columns=_names(
        "model touch_key partner_id role position weight credited_revenue reversed_revenue "
        "fraud_flags"
    ),
    sql="""
SELECT toString(model) AS model, touch_key, toString(partner_id) AS partner_id,
       toString(role) AS role, position,
       sumIf(c.weight, NOT c.is_reversal) AS weight,
       sum(c.credited_revenue) AS credited_revenue,
       sumIf(c.credited_revenue, c.is_reversal) AS reversed_revenue,
       arrayMap(f -> toString(f), arraySort(groupUniqArrayArray(c.fraud_flags))) AS fraud_flags
FROM attribution_credits AS c
WHERE advertiser_id = {advertiser_id:String} AND conversion_id = {conversion_id:String}
GROUP BY model, touch_key, partner_id, role, position
ORDER BY model, position, touch_key
""",
)

CONVERSION_PAYOUTS = ReportQuery(
    name="conversion_payouts",
    title="Payouts of one conversion",
    columns=_names("partner_id payout_type amount currency contract_id"),
    sql="""
SELECT toString(partner_id) AS partner_id, toString(payout_type) AS payout_type,
       sum(amount) AS amount, toString(currency) AS currency,
       toString(contract_id) AS contract_id
FROM payouts
WHERE advertiser_id = {advertiser_id:String} AND conversion_id = {conversion_id:String}
GROUP BY partner_id, payout_type, currency, contract_id
ORDER BY partner_id, contract_id, payout_type
""",
)

REPORT_QUERIES: tuple[ReportQuery, ...] = (
    PERFORMANCE,
    ROLE_MIX,
    MODEL_COMPARISON,
    JOURNEY_PATHS,
    OVERLAP,
    CUSTOMER_VALUE,
    TIME_TO_CONVERT,
    PATH_LENGTH,
    QUALITY,
    CTIT_HISTOGRAM,
    REJECTED,
    FLAGGED_INSTALLS,
)
CONVERSION_QUERIES: tuple[ReportQuery, ...] = (
    CONVERSION,
    JOURNEY_EVENTS,
    STORED_CREDITS,
    CONVERSION_PAYOUTS,
)
