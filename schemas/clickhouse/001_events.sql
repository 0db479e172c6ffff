-- Every accepted event, one row per event id, in its canonical form.
-- kafka_topic/partition/offset record where the attributor read it: the sink uses them as its
-- high-water mark so a replayed batch is never written twice (see ARCHITECTURE.md).
CREATE TABLE IF NOT EXISTS events
(
    event_id          String,
    event_key         Int64,   -- attribution.ids.hash_id(event_id): what credits refer to
    type              LowCardinality(String),
    schema_version    UInt8,
    ts                DateTime64(3, 'UTC'),
    received_at       DateTime64(3, 'UTC'),
    advertiser_id     LowCardinality(String),
    partner_id        LowCardinality(String),
    partner_type      LowCardinality(String),
    campaign_id       LowCardinality(String),
    click_id          String,
    click_event_id    String,
    visitor_id        String,
    device_id         String,
    device_id_type    LowCardinality(String),
    customer_id       String,
    event_name        LowCardinality(String),
    order_id          String,
    revenue           Int64,
    currency          LowCardinality(String),
    app_id            LowCardinality(String),
    install_id        String,
    click_ts          Nullable(DateTime64(3, 'UTC')),
    ctit_seconds      Nullable(Float64),
    transaction_id    String,
    source_identifier String,
    reversal_reason   LowCardinality(String),
    sub1              String,
    sub2              String,
    sub3              String,
    sub4              String,
    sub5              String,
    source            LowCardinality(String),
    ip                String,
    user_agent        String CODEC(ZSTD(3)),
    is_bot            Bool,
    fraud_flags       Array(LowCardinality(String)),
    gdpr              Nullable(Bool),
    gpc               Bool,
    identity          String,
    kafka_topic       LowCardinality(String),
    kafka_partition   Int32,
    kafka_offset      Int64,
    payload           String CODEC(ZSTD(3))
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (advertiser_id, type, toDate(ts), partner_id, event_id)
SETTINGS non_replicated_deduplication_window = 10000;
