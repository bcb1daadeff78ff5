-- Gatehouse schema, version 1 (SQLite). Timestamps are Unix milliseconds (UTC).
-- Ids are UUID text. Secrets are stored only sealed (v1.<kid>.<data>) or hashed.

CREATE TABLE apps (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    slug          TEXT NOT NULL UNIQUE,
    upstream_url  TEXT,
    scheme        TEXT NOT NULL CHECK (scheme IN ('http', 'https')),
    auth_prefix   TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

CREATE TABLE app_hosts (
    host          TEXT PRIMARY KEY,          -- "host" or "host:port", lowercase
    app_id        TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    position      INTEGER NOT NULL
);
CREATE INDEX app_hosts_app ON app_hosts(app_id);

CREATE TABLE sso_oidc (
    app_id                TEXT PRIMARY KEY REFERENCES apps(id) ON DELETE CASCADE,
    enabled               INTEGER NOT NULL,
    settings              TEXT NOT NULL,     -- JSON of OidcSettings (no secret)
    client_secret_sealed  TEXT,
    updated_at            INTEGER NOT NULL
);

CREATE TABLE users (
    id             TEXT PRIMARY KEY,
    app_id         TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    email          TEXT NOT NULL,
    email_lower    TEXT NOT NULL,
    first_name     TEXT NOT NULL,
    last_name      TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
    password_hash  TEXT,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    last_login_at  INTEGER,
    UNIQUE (app_id, email_lower)
);

CREATE TABLE identities (
    app_id      TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    issuer      TEXT NOT NULL,
    subject     TEXT NOT NULL,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (app_id, issuer, subject)
);
CREATE INDEX identities_user ON identities(user_id);

CREATE TABLE user_tags (
    user_id  TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    key      TEXT NOT NULL,
    value    TEXT NOT NULL,
    source   TEXT NOT NULL CHECK (source IN ('idp', 'admin')),
    PRIMARY KEY (user_id, key, value)
);

CREATE TABLE user_groups (
    user_id  TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name     TEXT NOT NULL,
    PRIMARY KEY (user_id, name)
);

CREATE TABLE grants (
    id          TEXT PRIMARY KEY,
    app_id      TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    role        TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('email', 'group', 'tag')),
    value       TEXT NOT NULL,               -- email (lowercase), group name, or tag key
    tag_value   TEXT,                        -- for kind = 'tag'
    created_at  INTEGER NOT NULL
);
CREATE INDEX grants_app ON grants(app_id);

CREATE TABLE sessions (
    id                    TEXT PRIMARY KEY,  -- public id (API)
    token_hash            TEXT NOT NULL UNIQUE, -- SHA-256 of the cookie secret
    app_id                TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    user_id               TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    method                TEXT NOT NULL,     -- 'password' | 'oidc'
    created_at            INTEGER NOT NULL,
    last_seen_at          INTEGER NOT NULL,
    expires_at            INTEGER NOT NULL,  -- absolute end
    revoked_at            INTEGER,
    ip                    TEXT,
    user_agent            TEXT,
    idp_issuer            TEXT,
    idp_sid               TEXT,
    id_token_sealed       TEXT,
    refresh_token_sealed  TEXT,
    token_expires_at      INTEGER
);
CREATE INDEX sessions_app ON sessions(app_id, revoked_at);
CREATE INDEX sessions_user ON sessions(user_id);
CREATE INDEX sessions_sid ON sessions(idp_issuer, idp_sid);

CREATE TABLE audit_events (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id          TEXT,                    -- kept after the app is deleted
    at              INTEGER NOT NULL,
    actor           TEXT NOT NULL,           -- JSON of Actor
    action          TEXT NOT NULL,
    target          TEXT,
    details         TEXT NOT NULL,           -- JSON object
    correlation_id  TEXT
);
CREATE INDEX audit_app ON audit_events(app_id, id);

CREATE TABLE admin_tokens (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    token_hash    TEXT NOT NULL UNIQUE,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER,
    revoked_at    INTEGER
);

-- Every change that other nodes (and this node's caches) must hear about.
-- Written in the same transaction as the change; read by the change feed.
CREATE TABLE changes (
    seq   INTEGER PRIMARY KEY AUTOINCREMENT,
    at    INTEGER NOT NULL,
    kind  TEXT NOT NULL,                     -- 'app' | 'user' | 'session' | 'grants'
    key   TEXT NOT NULL                      -- app id | user id | session token hash
);
