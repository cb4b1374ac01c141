-- Initial schema, PostgreSQL flavour. Keep table and column names in step with
-- ../sqlite/0001_initial.sql: the store runs the same query text on both.
--
-- A portal key is (connector, chat, receiver); receiver is '' for a shared portal (no
-- receiving login) so that it can be part of primary keys.
-- Booleans are 0/1 BIGINTs and JSON is TEXT, the common ground of both backends through
-- sqlx::Any (which would not decode BOOLEAN on SQLite nor JSONB on PostgreSQL).
-- Tables are created unqualified, in the first schema of search_path, so tests can give each
-- run a schema of its own.

-- Appservice transaction ids already accepted, so a retried push is processed once.
-- received_at (ms since the epoch) lets old ids be pruned later.
CREATE TABLE appservice_txn (
    txn_id      TEXT   NOT NULL PRIMARY KEY,
    received_at BIGINT NOT NULL
);

-- Durable queue of Matrix events not yet handled. Identity values are never reused.
CREATE TABLE inbox (
    seq     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    room_id TEXT,
    json    TEXT NOT NULL
);

CREATE TABLE portal (
    connector   TEXT   NOT NULL,
    chat        TEXT   NOT NULL,
    receiver    TEXT   NOT NULL,
    room_id     TEXT,
    name        TEXT,
    topic       TEXT,
    is_direct   BIGINT NOT NULL,
    relay_login TEXT,
    PRIMARY KEY (connector, chat, receiver)
);
-- One portal per room; NULLs (no room yet) do not collide.
CREATE UNIQUE INDEX portal_room_id ON portal (room_id);

CREATE TABLE ghost (
    connector     TEXT   NOT NULL,
    remote_user   TEXT   NOT NULL,
    mxid          TEXT   NOT NULL,
    display_name  TEXT,
    avatar_mxc    TEXT,
    avatar_source TEXT,
    registered    BIGINT NOT NULL,
    PRIMARY KEY (connector, remote_user)
);

CREATE TABLE login (
    connector   TEXT NOT NULL,
    id          TEXT NOT NULL,
    matrix_user TEXT NOT NULL,
    remote_user TEXT NOT NULL,
    remote_name TEXT NOT NULL,
    secret      TEXT NOT NULL,
    state       TEXT NOT NULL,
    PRIMARY KEY (connector, id)
);
CREATE INDEX login_matrix_user ON login (matrix_user);

-- One row per Matrix event carrying a part of a remote message.
-- seq records insertion order (parts come back in the order they were bridged, and it breaks
-- timestamp ties).
CREATE TABLE message (
    connector     TEXT   NOT NULL,
    chat          TEXT   NOT NULL,
    receiver      TEXT   NOT NULL,
    remote_id     TEXT   NOT NULL,
    part          TEXT   NOT NULL,
    event_id      TEXT   NOT NULL,
    room_id       TEXT   NOT NULL,
    sender_mxid   TEXT   NOT NULL,
    remote_sender TEXT   NOT NULL,
    thread_root   TEXT,
    timestamp_ms  BIGINT NOT NULL,
    seq           BIGINT GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY (connector, chat, receiver, remote_id, part)
);
CREATE INDEX message_event_id ON message (event_id);
-- last_message: newest by timestamp, then by insertion, within a portal.
CREATE INDEX message_portal_time ON message (connector, chat, receiver, timestamp_ms, seq);

CREATE TABLE reaction (
    connector     TEXT NOT NULL,
    chat          TEXT NOT NULL,
    receiver      TEXT NOT NULL,
    target        TEXT NOT NULL,
    remote_sender TEXT NOT NULL,
    reaction_key  TEXT NOT NULL,
    event_id      TEXT NOT NULL,
    PRIMARY KEY (connector, chat, receiver, target, remote_sender, reaction_key)
);
CREATE INDEX reaction_event_id ON reaction (event_id);

CREATE TABLE management_room (
    matrix_user TEXT NOT NULL PRIMARY KEY,
    room_id     TEXT NOT NULL
);

-- Memberships the bridge itself set up, to avoid re-joining on every message.
CREATE TABLE membership (
    room_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    PRIMARY KEY (room_id, user_id)
);
