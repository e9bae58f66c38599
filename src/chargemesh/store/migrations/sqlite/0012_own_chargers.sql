-- The platform's own chargers (docs/csms.md): registered by operations, each also a station of
-- the own network's operator in the registry. The password is kept as a salted SHA-256 (chargers
-- hold random 16-40 character passwords: a fast hash lets a reconnect storm authenticate).
CREATE TABLE own_chargers (
    id TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    kind TEXT NOT NULL, -- supercharger or home
    name TEXT NOT NULL,
    owner_account_id TEXT, -- home chargers: the only account that sees and starts them
    station_id TEXT NOT NULL,
    connectors INTEGER NOT NULL,
    vendor TEXT,
    model TEXT,
    serial TEXT,
    firmware TEXT,
    ocpp_version TEXT,
    last_boot_at TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX own_chargers_owner ON own_chargers (owner_account_id);
CREATE INDEX own_chargers_station ON own_chargers (station_id);
-- The transaction ids the CSMS gives OCPP 1.6 chargers (an integer, unique across nodes).
CREATE TABLE ocpp_transaction_ids (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    charger_id TEXT NOT NULL,
    created_at TEXT NOT NULL
);
-- Each transaction of an own charger: which session it is, its meter and the cost so far.
CREATE TABLE ocpp_transactions (
    charger_id TEXT NOT NULL,
    transaction_id TEXT NOT NULL,
    connector INTEGER NOT NULL,
    id_token TEXT NOT NULL,
    session_ref TEXT NOT NULL, -- the session's protocol_ref
    meter_start_wh REAL NOT NULL,
    meter_wh REAL NOT NULL,
    meter_at TEXT NOT NULL,
    energy_cost TEXT NOT NULL, -- decimals as text, exact
    service_cost TEXT NOT NULL,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    PRIMARY KEY (charger_id, transaction_id)
);
-- 2.0.1 TransactionEvents seen, by (charger, transaction, seqNo): a replay counts once.
CREATE TABLE ocpp_seen_events (
    charger_id TEXT NOT NULL,
    transaction_id TEXT NOT NULL,
    seq_no INTEGER NOT NULL,
    PRIMARY KEY (charger_id, transaction_id, seq_no)
);
