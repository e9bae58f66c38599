-- Charging sessions (one row per session, whatever protocol runs it), the drivers' vehicles
-- with the networks their plug-and-charge is enabled on, and every charge attempt for the
-- compatibility lab. A retried POST /api/v1/sessions finds its session by (account, key).
CREATE TABLE vehicles (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    vin TEXT NOT NULL UNIQUE,
    model TEXT NOT NULL,
    emaid TEXT UNIQUE
);

CREATE TABLE vehicle_networks (
    vehicle_id TEXT NOT NULL REFERENCES vehicles (id),
    operator_id TEXT NOT NULL,
    PRIMARY KEY (vehicle_id, operator_id)
);

CREATE TABLE charge_sessions (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    operator_id TEXT NOT NULL,
    protocol TEXT NOT NULL,
    connector_id TEXT NOT NULL,
    station_id TEXT NOT NULL,
    method TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    vehicle_id TEXT,
    idempotency_key TEXT,
    protocol_ref TEXT,
    remote_id TEXT,
    failure_reason TEXT,
    stop_reason TEXT,
    deadline TIMESTAMPTZ,
    started_at TIMESTAMPTZ,
    ended_at TIMESTAMPTZ,
    kwh REAL NOT NULL,
    kw REAL,
    soc REAL,
    cost NUMERIC,
    currency TEXT NOT NULL,
    bill TEXT,
    qr TEXT,
    UNIQUE (account_id, idempotency_key)
);
CREATE UNIQUE INDEX charge_sessions_ref ON charge_sessions (operator_id, protocol_ref);
CREATE INDEX charge_sessions_state ON charge_sessions (state);
CREATE INDEX charge_sessions_connector ON charge_sessions (connector_id);

CREATE TABLE charge_attempts (
    id TEXT PRIMARY KEY,
    at TIMESTAMPTZ NOT NULL,
    operator_id TEXT NOT NULL,
    start_method TEXT NOT NULL,
    outcome TEXT NOT NULL,
    session_id TEXT,
    vehicle_model TEXT,
    charger_manufacturer TEXT,
    charger_model TEXT,
    firmware TEXT,
    connector_standard TEXT,
    failure_reason TEXT,
    source TEXT NOT NULL
);
CREATE INDEX charge_attempts_at ON charge_attempts (at);

-- What a scanned code is looked up by: an OCPI EVSE id, or a bare T/CEC ConnectorID.
CREATE INDEX evses_code ON evses (upper(evse_code));
CREATE INDEX connectors_source_id ON connectors (source_id);
