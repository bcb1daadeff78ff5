-- OIDC sign-in: the client key for private_key_jwt, and single-use values
-- (sign-in states, logout token ids) remembered until they expire.

ALTER TABLE sso_oidc ADD COLUMN client_key_sealed TEXT;

CREATE TABLE used_tokens (
    kind        TEXT NOT NULL,
    hash        TEXT NOT NULL,
    expires_at  BIGINT NOT NULL,
    PRIMARY KEY (kind, hash)
);
CREATE INDEX used_tokens_expiry ON used_tokens(expires_at);
