-- Facilities and their places, the wijk cap on places, placements, assessments and who is responsible.

-- What placement knows of each client: from ClientRegistered, changed by a ResponsibilityTransferred.
CREATE TABLE clients (
    client_ref               text PRIMARY KEY,
    responsible_municipality text NOT NULL,
    preferred_municipalities text[] NOT NULL,
    updated_at               timestamptz NOT NULL DEFAULT now()
);

-- A facility (a building) or, for BW_HOME, an ambulant team: capacity is then its caseload, wijk NULL.
CREATE TABLE facilities (
    facility_id     text PRIMARY KEY,
    provider_agb    text    NOT NULL,
    name            text    NOT NULL,
    municipality    text    NOT NULL,
    wijk            text,
    care_form       text    NOT NULL,
    capacity        integer NOT NULL CHECK (capacity >= 0),
    occupied        integer NOT NULL DEFAULT 0,
    supported_needs text[]  NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    -- Never above capacity, whatever the code above it does (DOMAIN.md rule 3).
    CONSTRAINT facility_not_over_capacity CHECK (occupied >= 0 AND occupied <= capacity),
    CONSTRAINT building_has_wijk CHECK ((care_form = 'BW_HOME') = (wijk IS NULL))
);
CREATE INDEX facilities_by_care_form ON facilities (care_form);

-- The neighbourhood cap on facility places (DOMAIN.md rule 4): held by a CHECK on one row per wijk.
CREATE TABLE wijk_places (
    wijk   text PRIMARY KEY,
    places integer NOT NULL DEFAULT 0 CHECK (places >= 0),
    cap    integer NOT NULL,
    CONSTRAINT wijk_within_cap CHECK (places <= cap)
);

CREATE TABLE placements (
    placement_id             text PRIMARY KEY,
    intake_id                text    NOT NULL UNIQUE,
    client_ref               text    NOT NULL,
    facility_id              text    NOT NULL REFERENCES facilities (facility_id),
    provider_agb             text    NOT NULL,
    responsible_municipality text    NOT NULL,
    care_form                text    NOT NULL,
    start_date               date    NOT NULL,
    end_date                 date,
    end_reason               text,
    ready                    boolean NOT NULL DEFAULT false,
    support_at_home          boolean NOT NULL DEFAULT false,
    CHECK ((end_date IS NULL) = (end_reason IS NULL))
);
-- A client is in at most one place at a time, whichever process placed them.
CREATE UNIQUE INDEX one_open_placement_per_client ON placements (client_ref) WHERE end_date IS NULL;
CREATE INDEX placements_open_by_facility ON placements (facility_id) WHERE end_date IS NULL;

CREATE TABLE assessments (
    id                   bigserial PRIMARY KEY,
    placement_id         text    NOT NULL REFERENCES placements (placement_id),
    assessed_on          date    NOT NULL,
    scores               jsonb   NOT NULL,
    client_scores        jsonb,
    client_wants_to_move boolean NOT NULL,
    ready                boolean NOT NULL,
    recorded_at          timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE waiting_list ADD COLUMN placement_id text;
CREATE INDEX waiting_list_by_client ON waiting_list (client_ref);
