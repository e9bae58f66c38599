-- Firmware images and campaigns for the own chargers (docs/firmware.md).
-- The bytes of an image are kept once per content (sha256), so every node can serve them.
CREATE TABLE firmware_blobs (
    sha256 TEXT PRIMARY KEY,
    content BLOB NOT NULL
);
CREATE TABLE firmware_images (
    id TEXT PRIMARY KEY,
    version TEXT NOT NULL,
    models TEXT NOT NULL, -- comma-separated charger models
    sha256 TEXT NOT NULL UNIQUE REFERENCES firmware_blobs (sha256),
    size BIGINT NOT NULL,
    signature TEXT,
    signing_certificate TEXT,
    created_at TEXT NOT NULL
);
-- A campaign and its rules (JSON), the update of every charger in it, its history.
CREATE TABLE campaigns (
    id TEXT PRIMARY KEY,
    firmware_id TEXT NOT NULL REFERENCES firmware_images (id),
    target TEXT NOT NULL,
    rules TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    start_at TEXT,
    wave INTEGER NOT NULL,
    reason TEXT
);
CREATE TABLE campaign_updates (
    campaign_id TEXT NOT NULL REFERENCES campaigns (id),
    charger_id TEXT NOT NULL,
    wave INTEGER NOT NULL,
    state TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    from_version TEXT,
    reason TEXT,
    attempts INTEGER NOT NULL,
    request_id BIGINT,
    sent_at TEXT,
    booted_at TEXT,
    site TEXT,
    position INTEGER NOT NULL, -- the order of the chargers in the campaign
    PRIMARY KEY (campaign_id, charger_id)
);
CREATE INDEX campaign_updates_charger ON campaign_updates (charger_id, state);
CREATE TABLE campaign_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    campaign_id TEXT NOT NULL,
    at TEXT NOT NULL,
    charger_id TEXT,
    event TEXT NOT NULL
);
CREATE INDEX campaign_events_campaign ON campaign_events (campaign_id, id);
-- The chargers of one site (a supercharger site): at most a few of them update at once.
ALTER TABLE own_chargers ADD COLUMN site TEXT;
