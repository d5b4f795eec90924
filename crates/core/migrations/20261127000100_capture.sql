-- Capture: where ingestion of each spool file stopped, and a few more request columns.

CREATE TABLE ingest_cursors (
    spool      TEXT PRIMARY KEY,
    -- Identity of the file the offset belongs to (device:inode); a new file restarts at 0.
    file_id    TEXT NOT NULL,
    offset     INTEGER NOT NULL,
    updated_at REAL NOT NULL
);

ALTER TABLE requests ADD COLUMN key_alias TEXT;
ALTER TABLE requests ADD COLUMN call_type TEXT;
ALTER TABLE requests ADD COLUMN first_token_at REAL;

CREATE INDEX sessions_by_key_alias ON sessions (proxy_key_alias);
