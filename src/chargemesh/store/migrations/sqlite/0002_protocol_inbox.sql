-- Protocol messages we acknowledged but whose consumer (e.g. the session state machine) works
-- from them later: once acknowledged, a message must not be lost.
CREATE TABLE protocol_inbox (
    id INTEGER PRIMARY KEY,
    operator_id TEXT NOT NULL,
    protocol TEXT NOT NULL,
    message TEXT NOT NULL,
    payload TEXT NOT NULL,
    received_at TEXT NOT NULL
);
CREATE INDEX protocol_inbox_message ON protocol_inbox (protocol, message, operator_id);
