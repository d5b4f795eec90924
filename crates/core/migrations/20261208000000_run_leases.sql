-- Run items leased to workers (store/leases.rs, docs/team.md "Joining a run"): who holds an item
-- and until when (Unix epoch ms); a lease not renewed by then may be taken by another worker.
ALTER TABLE run_items ADD COLUMN lease_owner TEXT;
ALTER TABLE run_items ADD COLUMN lease_until REAL;
CREATE INDEX run_items_by_state ON run_items (run_id, state, idx);
