-- An accepted offer whose outflow placement refused (its placement ended first: OutflowRefused) is voided: the
-- home and the quota unit come back, and the wijk no longer counts it as let.
ALTER TABLE offers DROP CONSTRAINT offers_status_check;
ALTER TABLE offers ADD CONSTRAINT offers_status_check
    CHECK (status IN ('open', 'accepted', 'declined', 'lapsed', 'voided'));
