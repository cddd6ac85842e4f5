-- Projection of ClientRegistered: one row per intake, counted in the month of its registration date.
CREATE TABLE registrations (
    intake_id                text PRIMARY KEY,
    client_ref               text NOT NULL,
    registering_municipality text NOT NULL,
    responsible_municipality text NOT NULL,
    care_form                text NOT NULL,
    registered_on            date NOT NULL,
    event_id                 uuid NOT NULL,
    occurred_at              timestamptz NOT NULL
);
CREATE INDEX registrations_by_municipality_date ON registrations (responsible_municipality, registered_on);

-- How far the projections are: the newest event applied, for freshness on /metrics.
CREATE TABLE projection_position (
    projection  text PRIMARY KEY,
    last_event_occurred_at timestamptz NOT NULL,
    events_applied bigint NOT NULL DEFAULT 0
);
