-- The first answer to each Idempotency-Key of an HTTP write (POST, PUT, PATCH), per calling organisation:
-- written in the write's own transaction and replayed to a retry (zorgstroom_runtime.idempotency). The
-- answer columns are empty only inside that transaction, never once it commits. Not `idempotency_keys`:
-- intake's own table of that name predates this one.
CREATE TABLE idempotent_requests (
    organisation text        NOT NULL,
    key          text        NOT NULL,
    request_hash text        NOT NULL,
    status       integer,
    headers      jsonb,
    body         bytea,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organisation, key)
);
CREATE INDEX idempotent_requests_by_age ON idempotent_requests (created_at);
