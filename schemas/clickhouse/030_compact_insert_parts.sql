-- The attributor inserts one part per table and micro-batch (20k events are ~20 MB before
-- compression). Below `min_bytes_for_wide_part` a part is written "compact": all columns in
-- one file, about ten files per part instead of two per column (the events table has 44
-- columns and two skip indexes). Creating files dominated the cost of an insert, so the
-- inserted parts stay compact; merges produce wide parts once they pass 128 MiB.
ALTER TABLE events MODIFY SETTING min_bytes_for_wide_part = 134217728;

ALTER TABLE attribution_credits MODIFY SETTING min_bytes_for_wide_part = 134217728;

ALTER TABLE payouts MODIFY SETTING min_bytes_for_wide_part = 134217728;

ALTER TABLE rejected_events MODIFY SETTING min_bytes_for_wide_part = 134217728;
