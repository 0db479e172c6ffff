-- Dead letters: everything refused, with a typed reason and the raw payload, never dropped.
CREATE TABLE IF NOT EXISTS rejected_events
(
    rejected_id   String,
    received_at   DateTime64(3, 'UTC'),
    endpoint      LowCardinality(String),
    source        LowCardinality(String),
    advertiser_id LowCardinality(String),
    reason        LowCardinality(String),
    detail        String,
    status_code   UInt16,
    raw           String CODEC(ZSTD(3)),
    kafka_topic     LowCardinality(String),
    kafka_partition Int32,
    kafka_offset    Int64
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(received_at)
ORDER BY (reason, received_at, rejected_id)
SETTINGS non_replicated_deduplication_window = 10000;
