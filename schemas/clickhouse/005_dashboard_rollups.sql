-- Daily rollups for the reports API, /dashboard and Grafana (schemas/clickhouse/README.md).
-- Each is a SummingMergeTree fed by a MATERIALIZED VIEW on one base table: rows with the same
-- sorting key are added up in the background, so queries must still sum() their measures.
-- Every rollup keeps a row-count measure (never 0), so no row is dropped as "all zeros".
-- `non_replicated_deduplication_window` makes a replayed insert into the base table (same
-- insert_deduplication_token) count once in the rollup too.
-- History already in the base tables is copied once, when the rollup is still empty, before
-- its view is created (run migrations with the attributors stopped, as for any migration).

-- Events per advertiser, day, event type, partner and campaign.
CREATE TABLE IF NOT EXISTS events_daily
(
    advertiser_id  LowCardinality(String),
    day            Date,                     -- toDate(events.ts)
    type           LowCardinality(String),   -- click, impression, install, conversion, reversal
    partner_id     LowCardinality(String),   -- '' when the event names no partner
    partner_type   LowCardinality(String),
    campaign_id    LowCardinality(String),
    events         UInt64,                   -- events recorded (bots and flagged included)
    bot_events     UInt64,                   -- of which is_bot
    flagged_events UInt64,                   -- of which carry fraud_flags
    revenue        Int64                     -- sum of events.revenue (minor units)
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (advertiser_id, day, type, partner_id, partner_type, campaign_id)
SETTINGS non_replicated_deduplication_window = 10000;

INSERT INTO events_daily
SELECT advertiser_id, toDate(ts) AS day, type, partner_id, partner_type, campaign_id,
       count() AS events, countIf(is_bot) AS bot_events,
       countIf(notEmpty(e.fraud_flags)) AS flagged_events, sum(e.revenue) AS revenue
FROM events AS e
WHERE (SELECT count() FROM events_daily) = 0
GROUP BY advertiser_id, day, type, partner_id, partner_type, campaign_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS events_daily_mv TO events_daily AS
SELECT advertiser_id, toDate(ts) AS day, type, partner_id, partner_type, campaign_id,
       count() AS events, countIf(is_bot) AS bot_events,
       countIf(notEmpty(e.fraud_flags)) AS flagged_events, sum(e.revenue) AS revenue
FROM events AS e
GROUP BY advertiser_id, day, type, partner_id, partner_type, campaign_id;

-- Credits per advertiser, conversion day, model, partner, campaign, role and event name.
CREATE TABLE IF NOT EXISTS credits_daily
(
    advertiser_id    LowCardinality(String),
    day              Date,                    -- toDate(attribution_credits.conversion_ts)
    model            LowCardinality(String),
    partner_id       LowCardinality(String),
    partner_type     LowCardinality(String),
    campaign_id      LowCardinality(String),
    role             LowCardinality(String),  -- introducer, influencer, closer, sole
    event_name       LowCardinality(String),  -- purchase, signup, ..., install
    credits          UInt64,                  -- credit rows (reversal rows not counted)
    reversals        UInt64,                  -- reversal rows
    weight           Float64,                 -- sum of the credit rows' weights
    reversed_weight  Float64,                 -- sum of the reversal rows' weights (<= 0)
    gross_revenue    Int64,                   -- credited revenue of the credit rows
    reversed_revenue Int64,                   -- credited revenue of the reversal rows (<= 0)
    credited_revenue Int64                    -- net: gross_revenue + reversed_revenue
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (advertiser_id, day, model, partner_id, partner_type, campaign_id, role, event_name)
SETTINGS non_replicated_deduplication_window = 10000;

INSERT INTO credits_daily
SELECT advertiser_id, toDate(conversion_ts) AS day, model, partner_id, partner_type,
       campaign_id, role, event_name,
       countIf(NOT c.is_reversal) AS credits, countIf(c.is_reversal) AS reversals,
       sumIf(c.weight, NOT c.is_reversal) AS weight,
       sumIf(c.weight, c.is_reversal) AS reversed_weight,
       sumIf(c.credited_revenue, NOT c.is_reversal) AS gross_revenue,
       sumIf(c.credited_revenue, c.is_reversal) AS reversed_revenue,
       sum(c.credited_revenue) AS credited_revenue
FROM attribution_credits AS c
WHERE (SELECT count() FROM credits_daily) = 0
GROUP BY advertiser_id, day, model, partner_id, partner_type, campaign_id, role, event_name;

CREATE MATERIALIZED VIEW IF NOT EXISTS credits_daily_mv TO credits_daily AS
SELECT advertiser_id, toDate(conversion_ts) AS day, model, partner_id, partner_type,
       campaign_id, role, event_name,
       countIf(NOT c.is_reversal) AS credits, countIf(c.is_reversal) AS reversals,
       sumIf(c.weight, NOT c.is_reversal) AS weight,
       sumIf(c.weight, c.is_reversal) AS reversed_weight,
       sumIf(c.credited_revenue, NOT c.is_reversal) AS gross_revenue,
       sumIf(c.credited_revenue, c.is_reversal) AS reversed_revenue,
       sum(c.credited_revenue) AS credited_revenue
FROM attribution_credits AS c
GROUP BY advertiser_id, day, model, partner_id, partner_type, campaign_id, role, event_name;

-- Payouts per advertiser, conversion day, partner, contract, payout type and currency.
CREATE TABLE IF NOT EXISTS payouts_daily
(
    advertiser_id LowCardinality(String),
    day           Date,                      -- toDate(payouts.conversion_ts)
    partner_id    LowCardinality(String),
    partner_type  LowCardinality(String),
    contract_id   LowCardinality(String),
    payout_type   LowCardinality(String),
    currency      LowCardinality(String),
    payouts       UInt64,                    -- payout rows with amount >= 0
    reversals     UInt64,                    -- rows with amount < 0 (reversed payouts)
    amount        Int64                      -- net amount, minor units
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (advertiser_id, day, partner_id, partner_type, contract_id, payout_type, currency)
SETTINGS non_replicated_deduplication_window = 10000;

INSERT INTO payouts_daily
SELECT advertiser_id, toDate(conversion_ts) AS day, partner_id, partner_type, contract_id,
       payout_type, currency, countIf(p.amount >= 0) AS payouts,
       countIf(p.amount < 0) AS reversals, sum(p.amount) AS amount
FROM payouts AS p
WHERE (SELECT count() FROM payouts_daily) = 0
GROUP BY advertiser_id, day, partner_id, partner_type, contract_id, payout_type, currency;

CREATE MATERIALIZED VIEW IF NOT EXISTS payouts_daily_mv TO payouts_daily AS
SELECT advertiser_id, toDate(conversion_ts) AS day, partner_id, partner_type, contract_id,
       payout_type, currency, countIf(p.amount >= 0) AS payouts,
       countIf(p.amount < 0) AS reversals, sum(p.amount) AS amount
FROM payouts AS p
GROUP BY advertiser_id, day, partner_id, partner_type, contract_id, payout_type, currency;
