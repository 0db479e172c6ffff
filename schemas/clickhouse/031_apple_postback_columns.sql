-- SKAdNetwork / AdAttributionKit installs get typed columns (they were text in sub1..sub5,
-- which the collector still writes). The values are computed by ClickHouse from the event's
-- own `payload` (its `apple` object, schemas.events.AppleAttribution) when a row is
-- inserted: the attributor's insert leaves these columns out, so nothing changes in its hot
-- path. For rows written before this migration (no `apple` in the payload) the same
-- expressions read the former text layout (sub1 ad network, sub2 sequence index, sub3
-- did-win, sub4 source app id or domain, sub5 conversion type); such parts compute them on
-- read until they are merged or `ALTER TABLE events MATERIALIZE COLUMN ...` is run.
-- conversion_value / coarse_conversion_value (any install, Apple's or an SDK's) were only
-- in the payload until now.
ALTER TABLE events
    ADD COLUMN IF NOT EXISTS conversion_value Nullable(UInt8)
        DEFAULT if(type = 'install',
                   JSONExtract(payload, 'conversion_value', 'Nullable(UInt8)'), NULL),
    ADD COLUMN IF NOT EXISTS coarse_conversion_value LowCardinality(String)
        DEFAULT if(type = 'install', JSONExtractString(payload, 'coarse_conversion_value'), ''),
    ADD COLUMN IF NOT EXISTS apple_ad_network_id LowCardinality(String)
        DEFAULT if(source IN ('skan', 'aak'),
                   if(JSONHas(payload, 'apple'),
                      JSONExtractString(payload, 'apple', 'ad_network_id'), sub1), ''),
    ADD COLUMN IF NOT EXISTS apple_postback_sequence_index Nullable(UInt8)
        DEFAULT if(source IN ('skan', 'aak'),
                   if(JSONHas(payload, 'apple'),
                      JSONExtract(payload, 'apple', 'postback_sequence_index', 'Nullable(UInt8)'),
                      toUInt8OrNull(sub2)), NULL),
    ADD COLUMN IF NOT EXISTS apple_did_win Nullable(Bool)
        DEFAULT if(source IN ('skan', 'aak'),
                   if(JSONHas(payload, 'apple'),
                      JSONExtract(payload, 'apple', 'did_win', 'Nullable(Bool)'),
                      if(sub3 = '', NULL, sub3 = 'true')), NULL),
    ADD COLUMN IF NOT EXISTS apple_source_app_id Nullable(UInt64)
        DEFAULT if(source IN ('skan', 'aak'),
                   if(JSONHas(payload, 'apple'),
                      JSONExtract(payload, 'apple', 'source_app_id', 'Nullable(UInt64)'),
                      toUInt64OrNull(sub4)), NULL),
    ADD COLUMN IF NOT EXISTS apple_source_domain String
        DEFAULT if(source IN ('skan', 'aak'),
                   if(JSONHas(payload, 'apple'),
                      JSONExtractString(payload, 'apple', 'source_domain'),
                      if(toUInt64OrNull(sub4) IS NULL, sub4, '')), ''),
    ADD COLUMN IF NOT EXISTS apple_conversion_type LowCardinality(String)
        DEFAULT if(source IN ('skan', 'aak'),
                   if(JSONHas(payload, 'apple'),
                      JSONExtractString(payload, 'apple', 'conversion_type'), sub5), ''),
    ADD COLUMN IF NOT EXISTS apple_interaction_type LowCardinality(String)
        DEFAULT if(source IN ('skan', 'aak'),
                   JSONExtractString(payload, 'apple', 'interaction_type'), '');
