-- The wijk cap on outflow homes counts homes let over a rolling window (docs/domain.md, "Wijk caps"): it is
-- counted from the offers themselves (accepted ones by their answer date, open ones) under the matching
-- lock, so the lifetime counter goes. No data is lost: every accepted offer carries its answered_on.
DROP TABLE wijk_homes;
CREATE INDEX offers_let_in_wijk ON offers (wijk, answered_on) WHERE status = 'accepted';
CREATE INDEX offers_open_in_wijk ON offers (wijk) WHERE status = 'open';

-- The placement an offer was made in: the end of another placement (after a doorstroom) leaves it standing.
ALTER TABLE offers ADD COLUMN placement_id text;   -- NULL on offers made before

-- A transfer of responsibility belongs to one episode (the registrations it names) and takes effect on its
-- date; a client's responsible municipality on a day is resolved from these, on top of the episode's start.
ALTER TABLE clients ADD COLUMN intake_id text;     -- the registration of the current episode
CREATE TABLE transfers (
    transfer_id     text PRIMARY KEY,
    client_ref      text NOT NULL,
    to_municipality text NOT NULL,
    effective_on    date NOT NULL,
    intake_ids      text[],                        -- NULL: no episode known (events from before episodes)
    received        bigint GENERATED ALWAYS AS IDENTITY
);
CREATE INDEX transfers_of_client ON transfers (client_ref);
