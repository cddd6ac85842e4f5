-- What a replay of an Idempotency-Key's first answer needs besides the answer (zorgstroom_runtime.idempotency):
-- the roles the credential held when it was first answered (a credential that has lost one since is refused
-- the replay), and the audit lines the first answer left (each replay is audited with the same client_refs,
-- outcome 'replayed'). Keys claimed before this migration have neither and are not replayed (409).
ALTER TABLE idempotent_requests ADD COLUMN roles text[], ADD COLUMN audited jsonb;
