-- Custom emoji images of the networks, uploaded to Matrix once per source (their URL).
CREATE TABLE custom_emoji (
    source    TEXT NOT NULL PRIMARY KEY,
    connector TEXT NOT NULL,
    mxc       TEXT NOT NULL,
    shortcode TEXT NOT NULL
);
CREATE INDEX custom_emoji_mxc ON custom_emoji (mxc);
