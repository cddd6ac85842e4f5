-- Housing's own view of clients (from events only), units with why they wait, offers, quota use and
-- the wijk cap on outflow homes. Quotas and caps are held by CHECK constraints, not by the code alone.

DROP TABLE ready_clients;  -- replaced by `clients`, which also knows placement, household and wishes

CREATE TABLE clients (
    client_ref               text PRIMARY KEY,
    responsible_municipality text,
    preferred_municipalities text[]  NOT NULL DEFAULT '{}',
    adults                   integer NOT NULL DEFAULT 1,
    children                 integer NOT NULL DEFAULT 0,
    placement_id             text,        -- the open placement; NULL when not placed
    ready_since              date,        -- NULL when not ready for outflow
    support_at_home          boolean NOT NULL DEFAULT false,
    housed_on                date         -- an offer was accepted
);
CREATE INDEX clients_ready ON clients (ready_since) WHERE ready_since IS NOT NULL AND housed_on IS NULL;

-- Placements seen to end: an assessment that arrives after its placement ended changes nothing.
CREATE TABLE ended_placements (
    placement_id text PRIMARY KEY
);

ALTER TABLE housing_units ALTER COLUMN status SET DEFAULT 'available';
UPDATE housing_units SET status = 'available' WHERE status = 'offered';
ALTER TABLE housing_units ADD COLUMN waiting_reason text;   -- why an available unit is not offered now
ALTER TABLE housing_units ADD CONSTRAINT unit_status CHECK (status IN ('available', 'offered', 'let'));

ALTER TABLE contingents ADD COLUMN reserved integer NOT NULL DEFAULT 0 CHECK (reserved >= 0);
-- Open offers hold a quota unit until answered: used and promised together never pass the quota.
ALTER TABLE contingents ADD CONSTRAINT contingent_not_exceeded CHECK (used + reserved <= units);

CREATE TABLE wijk_homes (
    wijk  text PRIMARY KEY,
    homes integer NOT NULL DEFAULT 0 CHECK (homes >= 0),   -- accepted plus open offers
    cap   integer NOT NULL,
    CONSTRAINT wijk_homes_within_cap CHECK (homes <= cap)
);

CREATE TABLE offers (
    offer_id                 text PRIMARY KEY,
    unit_id                  text    NOT NULL REFERENCES housing_units (unit_id),
    corporation_id           text    NOT NULL,
    client_ref               text    NOT NULL,
    municipality             text    NOT NULL,
    wijk                     text    NOT NULL,
    responsible_municipality text    NOT NULL,
    quota_year               integer NOT NULL,
    household_size           integer NOT NULL,
    rooms_needed             integer NOT NULL,
    support_at_home          boolean NOT NULL,
    offered_on               date    NOT NULL,
    answer_by                date    NOT NULL,
    status                   text    NOT NULL DEFAULT 'open'
        CHECK (status IN ('open', 'accepted', 'declined', 'lapsed')),
    answered_on              date,
    decline_reason           text,
    created_at               timestamptz NOT NULL DEFAULT now()
);
-- A unit is offered to one client at a time, and a client holds one open offer at a time.
CREATE UNIQUE INDEX one_open_offer_per_unit ON offers (unit_id) WHERE status = 'open';
CREATE UNIQUE INDEX one_open_offer_per_client ON offers (client_ref) WHERE status = 'open';
CREATE INDEX offers_open_since ON offers (created_at) WHERE status = 'open';
CREATE INDEX offers_by_corporation ON offers (corporation_id, created_at);

-- The HousingUnitOffered event of each unit, so that offering the same unit again answers the same.
ALTER TABLE housing_units ADD COLUMN event_id uuid;
