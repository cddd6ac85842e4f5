-- NEN 7513: an audit line names the person who acted, not only the credential and its organisation.
-- `person` is the `preferred_username` (or `sub`) of the access token the request came with (for a
-- system's client-credentials token, its service account); null for a static token, a line written
-- without a request (a consumer's), and lines written before this migration.
ALTER TABLE audit_log ADD COLUMN person text;
