-- Several machines, one store (docs/team.md): every machine that wrote to this store, once, by
-- its stable id (a hash of /etc/machine-id, never the id itself). Sessions name theirs;
-- requests point at the machine that captured them by a small key (no per-row copy of the id).
CREATE TABLE machines (
    machine_key INTEGER PRIMARY KEY,
    machine_id  TEXT NOT NULL UNIQUE,
    hostname    TEXT NOT NULL,
    first_seen  REAL NOT NULL,  -- Unix epoch ms
    last_seen   REAL NOT NULL
);
ALTER TABLE sessions ADD COLUMN machine_id TEXT;
UPDATE sessions SET machine_id = json_extract(environment, '$.machine_id')
    WHERE environment IS NOT NULL AND json_valid(environment);
INSERT OR IGNORE INTO machines (machine_id, hostname, first_seen, last_seen)
    SELECT machine_id, COALESCE(json_extract(environment, '$.hostname'), 'unknown-host'),
           MIN(created_at), MAX(created_at)
    FROM sessions WHERE machine_id IS NOT NULL GROUP BY machine_id;
CREATE INDEX sessions_machine ON sessions (machine_id, created_at);
ALTER TABLE requests ADD COLUMN machine_key INTEGER REFERENCES machines (machine_key);
