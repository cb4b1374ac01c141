-- The record (issue 18, docs/record.md): one hash-chained entry per message, edit, delete and
-- reaction that crosses the bridge. Keep in step with ../postgres/0005_audit.sql.

-- seq counts from 1 without gaps; entry_hash chains each entry to prev_hash, the entry before's.
-- receiver is '' for shared chats, as in the message table.
CREATE TABLE audit_log (
    seq               INTEGER NOT NULL PRIMARY KEY,
    at_ms             INTEGER NOT NULL,
    direction         TEXT    NOT NULL,
    action            TEXT    NOT NULL,
    connector         TEXT    NOT NULL,
    chat              TEXT    NOT NULL,
    receiver          TEXT    NOT NULL,
    room_id           TEXT    NOT NULL,
    matrix_event_id   TEXT    NOT NULL,
    remote_message_id TEXT,
    matrix_sender     TEXT    NOT NULL,
    remote_sender     TEXT    NOT NULL,
    content_digest    TEXT,
    -- The content itself, sealed with the record's content key; only with record.keep_content.
    -- Not hashed: content_digest is, and the opened content must match it.
    content_sealed    TEXT,
    prev_hash         TEXT    NOT NULL,
    entry_hash        TEXT    NOT NULL
);
-- One entry per (direction, portal, Matrix event): a replay after a crash appends nothing.
CREATE UNIQUE INDEX audit_log_crossing
    ON audit_log (direction, connector, chat, receiver, matrix_event_id);
CREATE INDEX audit_log_at ON audit_log (at_ms);
CREATE INDEX audit_log_room ON audit_log (room_id, seq);

-- Signatures over the record up to an entry, made with the operator's signing key. The oldest
-- kept after pruning is the checkpoint the remaining entries chain to.
CREATE TABLE audit_seal (
    seq          INTEGER NOT NULL PRIMARY KEY,
    entry_hash   TEXT    NOT NULL,
    sealed_at_ms INTEGER NOT NULL,
    public_key   TEXT    NOT NULL,
    signature    TEXT    NOT NULL
);
