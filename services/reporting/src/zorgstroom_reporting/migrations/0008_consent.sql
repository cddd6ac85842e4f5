-- Consent to share with housing corporations (docs/domain.md, rule 14): read from each registration and from
-- every ConsentRecorded, so a report can tell who is ready but may not be offered a home. NULL on registrations
-- from before the column: they count as consenting until a rebuild reads the value from their events.
ALTER TABLE registrations ADD COLUMN consent_to_share boolean;

CREATE TABLE consents (
    event_id         uuid PRIMARY KEY,
    client_ref       text NOT NULL,
    consent_to_share boolean NOT NULL,
    recorded_on      date NOT NULL,
    occurred_at      timestamptz NOT NULL    -- orders two records of one day, the same live and in a rebuild
);
CREATE INDEX consents_of_client ON consents (client_ref);
