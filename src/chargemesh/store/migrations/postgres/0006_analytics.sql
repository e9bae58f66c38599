-- Analytics: a coverage snapshot after each sync (the timeline), and downtime excluded from
-- uptime (NEVI's T_excluded: outages the operator does not answer for, e.g. grid failures,
-- vandalism, scheduled maintenance), per connector or for every connector of a station.
CREATE TABLE coverage_snapshots (
    at TIMESTAMPTZ PRIMARY KEY,
    operators INTEGER NOT NULL,
    stations INTEGER NOT NULL,
    evses INTEGER NOT NULL,
    connectors INTEGER NOT NULL,
    counties INTEGER NOT NULL,
    highway_service_areas INTEGER NOT NULL,
    detail TEXT NOT NULL
);

CREATE TABLE excluded_downtime (
    id TEXT PRIMARY KEY,
    connector_id TEXT,
    station_id TEXT,
    starts_at TIMESTAMPTZ NOT NULL,
    ends_at TIMESTAMPTZ NOT NULL,
    reason TEXT NOT NULL
);
CREATE INDEX excluded_downtime_connector ON excluded_downtime (connector_id);
CREATE INDEX excluded_downtime_station ON excluded_downtime (station_id);

-- What coverage counts per EVSE, kept on the EVSE when it is written (power classes and access
-- methods are EVSE-level, and counting them must not group two million connectors): DC if any
-- connector is DC, the access methods any connector has. Filled in here for EVSEs written before.
ALTER TABLE evses ADD COLUMN dc INTEGER NOT NULL DEFAULT 0;
ALTER TABLE evses ADD COLUMN access_methods TEXT NOT NULL DEFAULT '';
UPDATE evses SET
    dc = COALESCE((SELECT max(CASE WHEN c.current_type = 'dc' THEN 1 ELSE 0 END) FROM connectors c
                   WHERE c.station_id = evses.station_id AND c.evse_id = evses.id), 0),
    access_methods = COALESCE((SELECT string_agg(c.access_methods, ',') FROM connectors c
                               WHERE c.station_id = evses.station_id AND c.evse_id = evses.id), '');
