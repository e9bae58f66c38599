-- Ingest across feeds: each feed's health, the merge of one physical station listed by several
-- feeds, and the stations a feed stopped listing, kept until the delisting rule confirms it.
CREATE TABLE feed_health (
    operator_id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    last_started TIMESTAMPTZ,
    last_finished TIMESTAMPTZ,
    last_success TIMESTAMPTZ,
    records INTEGER NOT NULL,
    errors INTEGER NOT NULL,
    last_error TEXT,
    listed INTEGER,
    duration_s REAL
);

CREATE TABLE station_sources (
    station_id TEXT PRIMARY KEY,
    canonical_id TEXT NOT NULL,
    rule TEXT NOT NULL,
    merged_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX station_sources_canonical ON station_sources (canonical_id);

CREATE TABLE missing_stations (
    station_id TEXT PRIMARY KEY,
    operator_id TEXT NOT NULL,
    first_missing TIMESTAMPTZ NOT NULL,
    misses INTEGER NOT NULL
);
CREATE INDEX missing_stations_operator ON missing_stations (operator_id);
