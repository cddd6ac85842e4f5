-- Intakes as registered. No BSN column, by design: the BSN is forgotten after pseudonymisation.
CREATE TABLE intakes (
    intake_id                uuid PRIMARY KEY,
    client_ref               text        NOT NULL,
    registering_municipality text        NOT NULL,
    responsible_municipality text        NOT NULL,
    responsibility_rule      text        NOT NULL,
    care_form                text        NOT NULL,
    urgency                  text        NOT NULL,
    registered_on            date        NOT NULL,
    event_id                 uuid        NOT NULL,
    created_at               timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX intakes_by_client ON intakes (client_ref);

-- Idempotency-Key per calling organisation; request_hash is keyed (HMAC) so it cannot reveal a BSN.
CREATE TABLE idempotency_keys (
    organisation text        NOT NULL,
    key          text        NOT NULL,
    request_hash text        NOT NULL,
    intake_id    uuid        NOT NULL REFERENCES intakes (intake_id) DEFERRABLE INITIALLY DEFERRED,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organisation, key)
);
