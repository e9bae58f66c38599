-- T/CEC state every process over this store shares (protocols/tcec/tokens.py, docs/tcec.md):
-- the bearer tokens we issued to operators, kept only as their SHA-256, and every request seen
-- (OperatorID, Seq, TimeStamp) for the replay guard, kept while its TimeStamp could still pass
-- the window (rows older than twice the window are purged).
CREATE TABLE tcec_tokens (
    token_hash TEXT PRIMARY KEY,
    operator_id TEXT NOT NULL,
    issued_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE TABLE tcec_seen_requests (
    stamp TEXT NOT NULL,
    operator_id TEXT NOT NULL,
    seq TEXT NOT NULL,
    PRIMARY KEY (stamp, operator_id, seq)
) WITHOUT ROWID;
