-- Provisioning (SCIM 2.0). Users carry SCIM's userName (users made at
-- sign-in get their e-mail), externalId and displayName, SCIM's own `active` flag
-- (an administrator's disable, `status`, is kept apart and wins), whether
-- provisioning made or adopted them, and a tombstone time when provisioning
-- deleted them (then SCIM no longer sees them and a sign-in is refused).
ALTER TABLE users ADD COLUMN user_name TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN user_name_lower TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN external_id TEXT;
ALTER TABLE users ADD COLUMN display_name TEXT;
ALTER TABLE users ADD COLUMN scim_active BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE users ADD COLUMN provisioned BOOLEAN NOT NULL DEFAULT FALSE;
-- Bumped by every provisioning write, which is refused (and retried) when
-- another one came first: SCIM's writes never undo each other.
ALTER TABLE users ADD COLUMN scim_version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN deprovisioned_at BIGINT;
UPDATE users SET user_name = email, user_name_lower = email_lower;
CREATE UNIQUE INDEX users_user_name ON users(app_id, user_name_lower);
CREATE INDEX users_external_id ON users(app_id, external_id);

-- Tags may come from SCIM too; a tag with one key and value may be held
-- from several sources at once.
ALTER TABLE user_tags DROP CONSTRAINT user_tags_source_check;
ALTER TABLE user_tags ADD CONSTRAINT user_tags_source_check CHECK (source IN ('idp', 'admin', 'scim'));
ALTER TABLE user_tags DROP CONSTRAINT user_tags_pkey;
ALTER TABLE user_tags ADD PRIMARY KEY (user_id, key, value, source);

-- Groups are entities of their application; each membership has a source:
-- the IdP's groups claim at sign-in, SCIM, or an administrator.
CREATE TABLE app_groups (
    id            TEXT PRIMARY KEY,
    app_id        TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    display_name  TEXT NOT NULL,
    external_id   TEXT,
    provisioned   BOOLEAN NOT NULL DEFAULT FALSE,   -- made or adopted by SCIM (SCIM sees only these)
    version       BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    UNIQUE (app_id, display_name)
);
CREATE INDEX app_groups_external_id ON app_groups(app_id, external_id);

CREATE TABLE group_members (
    group_id  TEXT NOT NULL REFERENCES app_groups(id) ON DELETE CASCADE,
    user_id   TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    source    TEXT NOT NULL CHECK (source IN ('claim', 'scim', 'admin')),
    PRIMARY KEY (group_id, user_id, source)
);
CREATE INDEX group_members_user ON group_members(user_id);

INSERT INTO app_groups (id, app_id, display_name, external_id, created_at, updated_at)
SELECT gen_random_uuid()::text, u.app_id, g.name, NULL, min(u.created_at), min(u.created_at)
FROM user_groups g JOIN users u ON u.id = g.user_id
GROUP BY u.app_id, g.name;

INSERT INTO group_members (group_id, user_id, source)
SELECT ag.id, g.user_id,
       CASE WHEN EXISTS (SELECT 1 FROM identities i WHERE i.user_id = g.user_id) THEN 'claim' ELSE 'admin' END
FROM user_groups g JOIN users u ON u.id = g.user_id
JOIN app_groups ag ON ag.app_id = u.app_id AND ag.display_name = g.name;

DROP TABLE user_groups;

-- SCIM bearer tokens, one application each, stored as SHA-256 hashes.
CREATE TABLE scim_tokens (
    id            TEXT PRIMARY KEY,
    app_id        TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    token_hash    TEXT NOT NULL UNIQUE,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT,
    revoked_at    BIGINT
);
CREATE INDEX scim_tokens_app ON scim_tokens(app_id);
