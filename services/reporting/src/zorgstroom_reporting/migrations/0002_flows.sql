-- Facts of the flow, one row per business fact, written in whatever order the topics deliver them:
-- a placement row may first be made by its ending and completed by its start (or the other way round).
CREATE TABLE placements (
    placement_id             text PRIMARY KEY,
    intake_id                text,
    client_ref               text NOT NULL,
    responsible_municipality text NOT NULL,
    facility_id              text NOT NULL,
    facility_municipality    text,
    wijk                     text,
    care_form                text,
    start_date               date,
    waited_days              integer,
    end_date                 date,
    end_reason               text
);
CREATE INDEX placements_by_client ON placements (client_ref);

CREATE TABLE outflows (
    placement_id             text PRIMARY KEY,
    client_ref               text NOT NULL,
    responsible_municipality text NOT NULL,
    municipality             text NOT NULL,
    wijk                     text,
    outflow_date             date NOT NULL,
    support_at_home          text NOT NULL
);

CREATE TABLE assessments (
    event_id     uuid PRIMARY KEY,
    placement_id text NOT NULL,
    client_ref   text NOT NULL,
    assessed_on  date NOT NULL,
    ready        boolean NOT NULL,
    occurred_at  timestamptz NOT NULL
);
CREATE INDEX assessments_by_placement ON assessments (placement_id, assessed_on);

CREATE TABLE transfers (
    event_id          uuid PRIMARY KEY,
    client_ref        text NOT NULL,
    from_municipality text NOT NULL,
    to_municipality   text NOT NULL,
    reason            text NOT NULL,
    effective_on      date NOT NULL
);
CREATE INDEX transfers_by_client ON transfers (client_ref, effective_on);
