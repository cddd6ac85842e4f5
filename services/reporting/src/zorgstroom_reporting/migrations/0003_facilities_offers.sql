-- The latest state of each facility (for places per wijk and occupancy), and every offer of a home
-- with its answer (for quota use and offers made, accepted, declined and lapsed).
CREATE TABLE facilities (
    facility_id  text PRIMARY KEY,
    provider_agb text    NOT NULL,
    municipality text    NOT NULL,
    wijk         text,
    care_form    text    NOT NULL,
    capacity     integer NOT NULL,
    occurred_at  timestamptz NOT NULL   -- a facility changes often: the newest registration wins
);

CREATE TABLE offers (
    offer_id       text PRIMARY KEY,
    corporation_id text,
    municipality   text,
    wijk           text,
    quota_year     integer,
    offered_on     date,
    status         text NOT NULL DEFAULT 'open',
    answered_on    date,
    reason         text
);
