-- The outbox: the events a transaction causes, written in that transaction and relayed to the
-- event bus after it commits (at least once). AUTOINCREMENT: an id is never reused after a
-- purge, so "everything after the relay's position" stays true.
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at TEXT NOT NULL
);
-- How far each relay has published (saved every second or so, not per event).
CREATE TABLE outbox_relays (
    name TEXT PRIMARY KEY,
    position INTEGER NOT NULL,
    updated_at TEXT NOT NULL
);
