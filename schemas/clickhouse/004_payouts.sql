-- What partners are owed, per contract term. Reversals add negative rows.
CREATE TABLE IF NOT EXISTS payouts
(
    conversion_id    String,
    conversion_ts    DateTime64(3, 'UTC'),
    advertiser_id    LowCardinality(String),
    partner_id       LowCardinality(String),
    partner_type     LowCardinality(String),
    contract_id      LowCardinality(String),
    contract_version UInt32,
    payout_type      LowCardinality(String),
    role             LowCardinality(String),
    model            LowCardinality(String),
    amount           Int64,
    currency         LowCardinality(String),
    created_at       DateTime64(3, 'UTC'),
    kafka_topic      LowCardinality(String),
    kafka_partition  Int32,
    kafka_offset     Int64
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(conversion_ts)
ORDER BY (advertiser_id, toDate(conversion_ts), partner_id, contract_id, conversion_id)
SETTINGS non_replicated_deduplication_window = 10000;
