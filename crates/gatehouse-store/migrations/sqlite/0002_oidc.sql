-- OIDC sign-in: the client key for private_key_jwt, and single-use values
-- (sign-in states, logout token ids) remembered until they expire.

ALTER TABLE sso_oidc ADD COLUMN client_key_sealed TEXT;

CREATE TABLE used_tokens (
    kind        TEXT NOT NULL,   -- 'flow_state' | 'logout_jti'
    hash        TEXT NOT NULL,   -- SHA-256 (hex) of the value, scoped by the caller
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (kind, hash)
);
CREATE INDEX used_tokens_expiry ON used_tokens(expires_at);
