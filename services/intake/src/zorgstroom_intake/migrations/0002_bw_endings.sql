-- The system's own record of BW endings (from PlacementEnded), for the 12-month BW rule (docs/domain.md, 'Relapse'):
-- per client the latest ending and the municipality responsible for that BW then.
CREATE TABLE bw_endings (
    client_ref     text        PRIMARY KEY,
    ended_on       date        NOT NULL,
    municipality   text        NOT NULL,
    placement_id   text        NOT NULL,
    recorded_at    timestamptz NOT NULL DEFAULT now()
);
