-- CPI+ pays once per (install, contract): the install a cpi_plus payout was for, so the
-- attributor can rebuild that ledger after a restart.
ALTER TABLE payouts ADD COLUMN IF NOT EXISTS install_id String DEFAULT '' AFTER conversion_id;
