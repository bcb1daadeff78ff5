-- Administrators of the console, their sessions, and their IdP identities
-- (admin sign-in through SSO OIDC), plus instance-wide settings.

CREATE TABLE admins (
    id             TEXT PRIMARY KEY,
    email          TEXT NOT NULL,
    email_lower    TEXT NOT NULL UNIQUE,
    name           TEXT NOT NULL,
    password_hash  TEXT,
    status         TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
    created_at     INTEGER NOT NULL,
    last_login_at  INTEGER
);

CREATE TABLE admin_identities (
    issuer    TEXT NOT NULL,
    subject   TEXT NOT NULL,
    admin_id  TEXT NOT NULL REFERENCES admins(id) ON DELETE CASCADE,
    PRIMARY KEY (issuer, subject)
);

CREATE TABLE admin_sessions (
    id            TEXT PRIMARY KEY,
    token_hash    TEXT NOT NULL UNIQUE,
    admin_id      TEXT NOT NULL REFERENCES admins(id) ON DELETE CASCADE,
    method        TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    last_seen_at  INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    revoked_at    INTEGER,
    ip            TEXT,
    user_agent    TEXT
);
CREATE INDEX admin_sessions_admin ON admin_sessions(admin_id);

CREATE TABLE instance_settings (
    key         TEXT PRIMARY KEY,
    value       TEXT NOT NULL,     -- JSON
    sealed      TEXT,              -- a sealed secret belonging to the setting
    updated_at  INTEGER NOT NULL
);
