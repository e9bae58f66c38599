-- Driver accounts and operations keys (docs/accounts.md). Secrets are never kept: passwords as
-- argon2id hashes, refresh tokens and ops keys as their SHA-256.
CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE, -- lower case
    password_hash TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    last_login_at TIMESTAMPTZ
);
-- One row per refresh token issued: a sign-in starts a family, each refresh spends one token
-- and issues the next in that family. A spent token shown again revokes its family.
CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    family_id TEXT NOT NULL,
    issued_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    spent_at TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
-- Wrong passwords per email (known or not): failures in the current window, and the lock.
CREATE TABLE login_failures (
    email TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    first_at TIMESTAMPTZ NOT NULL,
    locked_until TIMESTAMPTZ
);
-- Keys of the operations team: cm_<prefix>_<secret>, found by prefix, the whole key hashed.
CREATE TABLE ops_keys (
    prefix TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ
);
-- Secrets the platform makes once and every node over this store shares (the token signing key).
CREATE TABLE platform_secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
