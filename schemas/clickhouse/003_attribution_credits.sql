-- One row per (conversion, credited touch, model). Reversals add rows with negative
-- credited_revenue (is_reversal = true), so sums stay correct without mutations.
CREATE TABLE IF NOT EXISTS attribution_credits
(
    conversion_id     String,
    conversion_ts     DateTime64(3, 'UTC'),
    touch_key         Int64,   -- events.event_key of the credited touch
    advertiser_id     LowCardinality(String),
    partner_id        LowCardinality(String),
    partner_type      LowCardinality(String),
    campaign_id       LowCardinality(String),
    identity          String,
    event_name        LowCardinality(String),
    order_id          String,
    model             LowCardinality(String),
    role              LowCardinality(String),
    position          UInt16,
    path_length       UInt16,
    weight            Float64,
    credited_revenue  Int64,
    currency          LowCardinality(String),
    is_reversal       Bool,
    contract_id       LowCardinality(String),
    contract_version  UInt32,
    attributed_at     DateTime64(3, 'UTC'),
    kafka_topic       LowCardinality(String),  -- where the conversion (or reversal) was read:
    kafka_partition   Int32,                   -- the sink's high-water mark for this table
    kafka_offset      Int64
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(conversion_ts)
ORDER BY (advertiser_id, toDate(conversion_ts), partner_id, model, conversion_id, touch_key)
SETTINGS non_replicated_deduplication_window = 10000;
