-- The audit log records refusals too (outcome 'refused: 401' or 'refused: 403'), and refuses
-- TRUNCATE, which the row trigger of 0001 cannot see: even the table's owner cannot empty it.
-- (The service's own login role cannot do either: it holds only INSERT and SELECT on it.)
ALTER TABLE audit_log ADD COLUMN outcome text NOT NULL DEFAULT 'ok';
CREATE INDEX audit_log_client_ref ON audit_log (client_ref, id) WHERE client_ref IS NOT NULL;
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_is_append_only();
