-- Fraud flags the attributor decided for a credit row: `click_flooding` when the credited
-- touch's partner was flooding clicks when it won the install (services/attributor/flooding.py).
-- Flagged rows stay (the journey is reported as it happened); contracts pay nothing for them.
ALTER TABLE attribution_credits
    ADD COLUMN IF NOT EXISTS fraud_flags Array(LowCardinality(String)) DEFAULT [] AFTER is_reversal;
