-- The projections' own ledger of applied events, written in the same transaction as their rows.
-- It belongs to the projection tables (a rebuild makes a fresh one beside fresh tables and switches
-- them in together), so it replaces the runtime's per-consumer inbox for reporting; what that inbox
-- already recorded is carried over, so nothing is applied twice after the upgrade.
CREATE TABLE projection_events (
    event_id uuid PRIMARY KEY
);
INSERT INTO projection_events (event_id) SELECT DISTINCT event_id FROM processed_events ON CONFLICT DO NOTHING;
