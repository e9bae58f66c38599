-- The outbox: the events a transaction causes, written in that transaction and relayed to the
-- event bus after it commits (at least once).
CREATE TABLE outbox (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
-- How far each relay has published (saved every second or so, not per event).
CREATE TABLE outbox_relays (
    name TEXT PRIMARY KEY,
    position BIGINT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
