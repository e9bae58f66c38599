-- OCPI: each registered party (the credentials handshake, its endpoints and tokens), the
-- objects it owns in their wire form (kept so PATCHes can be merged and GETs answered, as the
-- spec asks of a receiver), and the tokens the platform issues as token owner.
CREATE TABLE ocpi_parties (
    id TEXT PRIMARY KEY,
    token_in TEXT,
    stage TEXT NOT NULL,
    token_out TEXT,
    versions_url TEXT,
    version TEXT,
    endpoints TEXT NOT NULL,
    roles TEXT NOT NULL,
    sync_state TEXT NOT NULL,
    raw_token INTEGER NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX ocpi_parties_token_in ON ocpi_parties (token_in);

CREATE TABLE ocpi_objects (
    module TEXT NOT NULL,
    country_code TEXT NOT NULL,
    party_id TEXT NOT NULL,
    object_id TEXT NOT NULL,
    owner TEXT NOT NULL,
    last_updated TIMESTAMPTZ NOT NULL,
    payload TEXT NOT NULL,
    PRIMARY KEY (module, country_code, party_id, object_id)
);
CREATE INDEX ocpi_objects_owner ON ocpi_objects (owner, module);

CREATE TABLE tokens (
    uid TEXT NOT NULL,
    type TEXT NOT NULL,
    contract_id TEXT NOT NULL,
    issuer TEXT NOT NULL,
    valid INTEGER NOT NULL,
    standing TEXT NOT NULL,
    whitelist TEXT NOT NULL,
    visual_number TEXT,
    group_id TEXT,
    language TEXT,
    last_updated TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (uid, type)
);
CREATE INDEX tokens_last_updated ON tokens (last_updated);
