-- When `prune` deleted a session's request rows (its rollups are kept and never recomputed).
ALTER TABLE sessions ADD COLUMN requests_pruned_at REAL;
