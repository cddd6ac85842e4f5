-- NEN 7513: an audit line names the person who acted, not only the credential and its organisation.
-- `person` is the person claim (`preferred_username`) of the access token the request came with; null for a
-- static token, a system's client-credentials token, a line written without a request (a consumer's), and
-- lines written before this migration.
ALTER TABLE audit_log ADD COLUMN person text;
