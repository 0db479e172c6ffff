-- Data-skipping indexes for the look-ups of one journey or one conversion that the reports
-- API makes (GET /v1/conversions/{id}/explain): those columns are not in the sorting keys.
-- They apply to parts written from now on; for data written before, an operator may run
-- `ALTER TABLE <table> MATERIALIZE INDEX <name>` (a background mutation) at a quiet time.
ALTER TABLE events ADD INDEX IF NOT EXISTS events_identity_bf identity
    TYPE bloom_filter(0.01) GRANULARITY 1;

ALTER TABLE events ADD INDEX IF NOT EXISTS events_event_id_bf event_id
    TYPE bloom_filter(0.01) GRANULARITY 1;

ALTER TABLE attribution_credits ADD INDEX IF NOT EXISTS credits_conversion_id_bf conversion_id
    TYPE bloom_filter(0.01) GRANULARITY 1;

ALTER TABLE payouts ADD INDEX IF NOT EXISTS payouts_conversion_id_bf conversion_id
    TYPE bloom_filter(0.01) GRANULARITY 1;
