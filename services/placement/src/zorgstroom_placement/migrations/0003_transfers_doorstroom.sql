-- Care forms are region data: whether a care form is ambulant (no building, no wijk) is the region's
-- to say, so the service checks it (domain/facilities.py, site_problem) instead of a CHECK naming BW_HOME.
ALTER TABLE facilities DROP CONSTRAINT building_has_wijk;

-- Doorstroom (docs/domain.md, rule 10): the placement a new one follows on the same day.
ALTER TABLE placements ADD COLUMN doorstroom_from text REFERENCES placements (placement_id);

-- Transfers of responsibility per episode (rule 9): proposed, then accepted or declined; an accepted one is
-- applied to the episode's rows once its effective date has come.
CREATE TABLE transfers (
    transfer_id       text PRIMARY KEY,
    client_ref        text    NOT NULL,
    intake_ids        text[]  NOT NULL,
    from_municipality text    NOT NULL,
    to_municipality   text    NOT NULL,
    to_in_region      boolean NOT NULL,
    reason            text    NOT NULL,
    effective_on      date    NOT NULL,
    proposed_on       date    NOT NULL,
    status            text    NOT NULL DEFAULT 'proposed' CHECK (status IN ('proposed', 'accepted', 'declined')),
    answered_on       date,
    decline_reason    text,
    applied           boolean NOT NULL DEFAULT false,
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX transfers_by_client ON transfers (client_ref);
CREATE INDEX transfers_due ON transfers (effective_on) WHERE status = 'accepted' AND NOT applied;
