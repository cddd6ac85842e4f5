-- Doorstroom (a placement that ends the day the client moves on to another care form, and the one that
-- follows it), withdrawn registrations, and the episode (registrations) an accepted transfer applies to.
ALTER TABLE placements ADD COLUMN doorstroom_from text, ADD COLUMN doorstroom_to text;

CREATE TABLE withdrawals (
    intake_id                text PRIMARY KEY,
    client_ref               text NOT NULL,
    responsible_municipality text NOT NULL,
    care_form                text NOT NULL,
    reason                   text NOT NULL,
    withdrawn_on             date NOT NULL
);

-- intake_ids: a JSON array of the episode's registrations (text, so the live writer and a rebuild, whose
-- connections decode JSON differently, store the same); NULL for a transfer from before episodes.
ALTER TABLE transfers ADD COLUMN transfer_id text, ADD COLUMN intake_ids text, ADD COLUMN accepted_on date;
