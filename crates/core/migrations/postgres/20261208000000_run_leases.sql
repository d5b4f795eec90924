-- Run items leased to workers: as SQLite's 20261208000000_run_leases.
ALTER TABLE run_items ADD COLUMN lease_owner TEXT;
ALTER TABLE run_items ADD COLUMN lease_until DOUBLE PRECISION;
CREATE INDEX run_items_by_state ON run_items (run_id, state, idx);
