-- Per-application settings beyond SSO (the access policy, API token
-- settings), as JSON by key.
CREATE TABLE app_settings (
    app_id      TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    key         TEXT NOT NULL,
    value       TEXT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (app_id, key)
);
