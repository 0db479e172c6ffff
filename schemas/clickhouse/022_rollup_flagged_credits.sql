-- credits_daily counts flagged credits apart (rows of attribution_credits with non-empty
-- fraud_flags, 021): they are not paid, so they no longer count in `credits`, `reversals`,
-- `weight`, `reversed_weight`, `gross_revenue`, `reversed_revenue` or `credited_revenue`;
-- the new measures hold them. Rollup totals as attributed (flagged included) are the sums of
-- both (schemas/clickhouse/README.md).
--
-- The view is recreated with the new split, then the (advertiser, day) rows that hold flagged
-- credits written before this migration are rebuilt from attribution_credits: nothing else is
-- rewritten. Run migrations with the attributors stopped (as for any migration): a credit
-- written between the DROP and the CREATE of the view would be missing from the rollup.
-- Every statement can run again after a failure: a rerun deletes and rebuilds the same rows.
ALTER TABLE credits_daily
    ADD COLUMN IF NOT EXISTS flagged_credits UInt64 DEFAULT 0 AFTER credited_revenue,
    ADD COLUMN IF NOT EXISTS flagged_reversals UInt64 DEFAULT 0 AFTER flagged_credits,
    ADD COLUMN IF NOT EXISTS flagged_weight Float64 DEFAULT 0 AFTER flagged_reversals,
    ADD COLUMN IF NOT EXISTS flagged_credited_revenue Int64 DEFAULT 0 AFTER flagged_weight;

DROP VIEW IF EXISTS credits_daily_mv;

ALTER TABLE credits_daily DELETE
WHERE (advertiser_id, day) IN
(
    SELECT DISTINCT advertiser_id, toDate(conversion_ts)
    FROM attribution_credits
    WHERE notEmpty(fraud_flags)
)
SETTINGS mutations_sync = 2;

INSERT INTO credits_daily SETTINGS insert_deduplicate = 0
SELECT advertiser_id, toDate(conversion_ts) AS day, model, partner_id, partner_type,
       campaign_id, role, event_name,
       countIf(NOT c.is_reversal AND empty(c.fraud_flags)) AS credits,
       countIf(c.is_reversal AND empty(c.fraud_flags)) AS reversals,
       sumIf(c.weight, NOT c.is_reversal AND empty(c.fraud_flags)) AS weight,
       sumIf(c.weight, c.is_reversal AND empty(c.fraud_flags)) AS reversed_weight,
       sumIf(c.credited_revenue, NOT c.is_reversal AND empty(c.fraud_flags)) AS gross_revenue,
       sumIf(c.credited_revenue, c.is_reversal AND empty(c.fraud_flags)) AS reversed_revenue,
       sumIf(c.credited_revenue, empty(c.fraud_flags)) AS credited_revenue,
       countIf(NOT c.is_reversal AND notEmpty(c.fraud_flags)) AS flagged_credits,
       countIf(c.is_reversal AND notEmpty(c.fraud_flags)) AS flagged_reversals,
       sumIf(c.weight, NOT c.is_reversal AND notEmpty(c.fraud_flags)) AS flagged_weight,
       sumIf(c.credited_revenue, notEmpty(c.fraud_flags)) AS flagged_credited_revenue
FROM attribution_credits AS c
WHERE (c.advertiser_id, toDate(c.conversion_ts)) IN
(
    SELECT DISTINCT advertiser_id, toDate(conversion_ts)
    FROM attribution_credits
    WHERE notEmpty(fraud_flags)
)
GROUP BY advertiser_id, day, model, partner_id, partner_type, campaign_id, role, event_name;

CREATE MATERIALIZED VIEW IF NOT EXISTS credits_daily_mv TO credits_daily AS
SELECT advertiser_id, toDate(conversion_ts) AS day, model, partner_id, partner_type,
       campaign_id, role, event_name,
       countIf(NOT c.is_reversal AND empty(c.fraud_flags)) AS credits,
       countIf(c.is_reversal AND empty(c.fraud_flags)) AS reversals,
       sumIf(c.weight, NOT c.is_reversal AND empty(c.fraud_flags)) AS weight,
       sumIf(c.weight, c.is_reversal AND empty(c.fraud_flags)) AS reversed_weight,
       sumIf(c.credited_revenue, NOT c.is_reversal AND empty(c.fraud_flags)) AS gross_revenue,
       sumIf(c.credited_revenue, c.is_reversal AND empty(c.fraud_flags)) AS reversed_revenue,
       sumIf(c.credited_revenue, empty(c.fraud_flags)) AS credited_revenue,
       countIf(NOT c.is_reversal AND notEmpty(c.fraud_flags)) AS flagged_credits,
       countIf(c.is_reversal AND notEmpty(c.fraud_flags)) AS flagged_reversals,
       sumIf(c.weight, NOT c.is_reversal AND notEmpty(c.fraud_flags)) AS flagged_weight,
       sumIf(c.credited_revenue, notEmpty(c.fraud_flags)) AS flagged_credited_revenue
FROM attribution_credits AS c
GROUP BY advertiser_id, day, model, partner_id, partner_type, campaign_id, role, event_name;
