-- The attributor's inserts and the reversal look-ups it makes on every batch.
--
-- `payload` (the canonical record, ~600 bytes an event) and `user_agent` are most of the
-- bytes of an `events` part, and they are compressed again on every insert and every merge:
-- ZSTD(1) takes about half the CPU of ZSTD(3) there, for parts of about the same size (the
-- rows are sorted by advertiser, type and partner, so neighbouring payloads look alike).
-- A codec change is metadata: parts written from now on (inserts and merges) use it, and
-- existing parts keep theirs until they are merged.
ALTER TABLE events
    MODIFY COLUMN payload String CODEC(ZSTD(1)),
    MODIFY COLUMN user_agent String CODEC(ZSTD(1));

-- A reversal names an order: the attributor reads that order's stored credits
-- (services/attributor/reversals.py, CREDIT_QUERY: order_id IN ... AND advertiser_id IN ...)
-- on every batch that holds reversals. order_id is not in the sorting key, so without this
-- index each look-up reads the whole order_id column of attribution_credits. Like 006, it
-- applies to parts written from now on (and merged ones); `ALTER TABLE attribution_credits
-- MATERIALIZE INDEX credits_order_id_bf` builds it for older parts, at a quiet time.
ALTER TABLE attribution_credits ADD INDEX IF NOT EXISTS credits_order_id_bf order_id
    TYPE bloom_filter(0.01) GRANULARITY 1;
