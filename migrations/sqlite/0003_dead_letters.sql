-- Hardening: an inbox event that keeps failing is set aside instead of replayed forever.
-- Keep in step with ../postgres/0003_dead_letters.sql.

-- Attempts at handling the event recorded so far (failures, and handling under way when the
-- bridge stopped); at the limit the event moves to dead_letter.
ALTER TABLE inbox ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;

-- Matrix events set aside after repeated failures, for an operator to look at.
-- seq is the event's sequence number in the inbox it came from.
CREATE TABLE dead_letter (
    seq       INTEGER NOT NULL PRIMARY KEY,
    room_id   TEXT,
    json      TEXT    NOT NULL,
    reason    TEXT    NOT NULL,
    attempts  INTEGER NOT NULL,
    failed_at INTEGER NOT NULL
);

-- Pruning old transaction ids reads them by age.
CREATE INDEX appservice_txn_received_at ON appservice_txn (received_at);
