-- The credentials store: API keys for systems that cannot do OAuth 2.0, and who was given them.
-- Written only by `zorgstroom credentials`; every service reads api_keys (db_roles grants SELECT).
CREATE TABLE api_keys (
    key_id            text        PRIMARY KEY,          -- public: the lookup key, part of the key string
    secret_sha256     bytea       NOT NULL,             -- SHA-256 of the secret; the secret itself never
    organisation_kind text        NOT NULL,
    organisation_id   text        NOT NULL,
    name              text        NOT NULL,
    roles             text[]      NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    expires_at        timestamptz NOT NULL,
    revoked_at        timestamptz,
    replaced_by       text        REFERENCES api_keys (key_id),  -- a rotated key: the key that replaced it
    CHECK (octet_length(secret_sha256) = 32)
);
CREATE INDEX api_keys_organisation ON api_keys (organisation_kind, organisation_id);

-- Who issued, rotated or revoked which key, when: the region's audit of who was given access.
CREATE TABLE api_key_history (
    id           bigserial   PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT now(),
    os_user      text        NOT NULL,                  -- who ran the command
    db_user      text        NOT NULL DEFAULT current_user,
    action       text        NOT NULL CHECK (action IN ('issue', 'rotate', 'revoke')),
    organisation text        NOT NULL,                  -- kind:id
    key_id       text        NOT NULL,
    detail       jsonb       NOT NULL DEFAULT '{}'
);
CREATE FUNCTION api_key_history_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'api_key_history is append-only'; END $$;
CREATE TRIGGER api_key_history_append_only BEFORE UPDATE OR DELETE ON api_key_history
    FOR EACH ROW EXECUTE FUNCTION api_key_history_is_append_only();
CREATE TRIGGER api_key_history_no_truncate BEFORE TRUNCATE ON api_key_history
    FOR EACH STATEMENT EXECUTE FUNCTION api_key_history_is_append_only();

-- Every change of a key tells the running services at once (they also poll, should a notification be lost).
CREATE FUNCTION api_keys_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_notify('zorgstroom_api_keys', ''); RETURN NULL; END $$;
CREATE TRIGGER api_keys_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION api_keys_changed();
