-- The registry: operators, stations (locations), EVSEs (piles), connectors (guns),
-- tariffs, and the connector status history used for uptime.
-- A connector holds its current status, since when it has had it (status_since) and when it
-- was last confirmed (status_at). Each change appends one history row that also names the
-- status it ended and since when that one held, so the whole timeline can be rebuilt
-- without writing a row per connector at first sync.
CREATE TABLE operators (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    protocol TEXT NOT NULL,
    capabilities TEXT NOT NULL,
    status_freshness_s INTEGER NOT NULL
);

CREATE TABLE tariffs (
    id TEXT PRIMARY KEY,
    operator_id TEXT NOT NULL REFERENCES operators (id),
    currency TEXT NOT NULL,
    periods TEXT NOT NULL,
    parking_fee TEXT,
    description TEXT
);

CREATE TABLE stations (
    id TEXT PRIMARY KEY,
    operator_id TEXT NOT NULL REFERENCES operators (id),
    source_id TEXT NOT NULL,
    name TEXT NOT NULL,
    address TEXT,
    country_code TEXT NOT NULL,
    lon REAL NOT NULL,
    lat REAL NOT NULL,
    county_adcode TEXT,
    highway_service_area INTEGER NOT NULL,
    station_type TEXT NOT NULL,
    opening_hours TEXT,
    parking TEXT,
    tariff_id TEXT,
    updated_at TEXT,
    fingerprint TEXT NOT NULL,
    removed_at TEXT
);
CREATE INDEX stations_operator ON stations (operator_id);
CREATE INDEX stations_county ON stations (county_adcode);

CREATE TABLE evses (
    id TEXT PRIMARY KEY,
    station_id TEXT NOT NULL REFERENCES stations (id),
    source_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    manufacturer TEXT,
    model TEXT,
    firmware TEXT,
    max_power_kw REAL,
    evse_code TEXT
);
CREATE INDEX evses_station ON evses (station_id);

CREATE TABLE connectors (
    id TEXT PRIMARY KEY,
    evse_id TEXT NOT NULL REFERENCES evses (id),
    station_id TEXT NOT NULL,
    operator_id TEXT NOT NULL,
    source_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    standard TEXT NOT NULL,
    current_type TEXT NOT NULL,
    max_power_kw REAL NOT NULL,
    max_voltage REAL,
    max_current REAL,
    access_methods TEXT NOT NULL,
    status TEXT NOT NULL,
    status_at TEXT,
    status_since TEXT
);
CREATE INDEX connectors_station ON connectors (station_id);
CREATE INDEX connectors_source ON connectors (operator_id, source_id);

CREATE TABLE status_history (
    id INTEGER PRIMARY KEY,
    connector_id TEXT NOT NULL,
    status TEXT NOT NULL,
    source_code TEXT,
    at TEXT NOT NULL,
    source TEXT NOT NULL,
    previous TEXT NOT NULL,
    previous_since TEXT
);
CREATE INDEX status_history_connector ON status_history (connector_id, at);
