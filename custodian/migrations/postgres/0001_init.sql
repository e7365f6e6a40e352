-- Cloister custodian, PostgreSQL schema version 1: keys, the audit chain, challenges.
-- Applied by `cloister-custodian migrate`; never edit an applied migration, add the next one.
CREATE TABLE keys (
    key_id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    wrapped_dek BYTEA NOT NULL,
    kek_id TEXT NOT NULL,
    trust_policy TEXT NOT NULL,
    rego TEXT,
    policy_version BIGINT NOT NULL,
    disabled BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX keys_tenant ON keys (tenant);

CREATE TABLE audit (
    seq BIGINT PRIMARY KEY,
    time BIGINT NOT NULL,
    body TEXT NOT NULL,
    hash TEXT NOT NULL,
    signature TEXT NOT NULL
);
CREATE INDEX audit_time ON audit (time);

CREATE TABLE challenges (
    nonce BYTEA PRIMARY KEY,
    key_id TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    used BOOLEAN NOT NULL
);
CREATE INDEX challenges_expiry ON challenges (expires_at);
