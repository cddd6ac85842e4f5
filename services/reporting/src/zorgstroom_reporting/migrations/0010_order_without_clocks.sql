-- Orders that no producer's clock can skew (projections/rows.py, `order_of_change`). A facility or quota
-- keeps its newer change by the version its producer raised with it (FacilityRegistered.version,
-- HousingContingentAgreed.version; 0 for events from before versions), then by the record's offset on its
-- topic, which for one key is the order the producer wrote in. Rows written before this have (0, -1):
-- every event of their key read from now on is later on its partition, so it wins.
ALTER TABLE facilities ADD COLUMN version integer NOT NULL DEFAULT 0;
ALTER TABLE facilities ADD COLUMN topic_offset bigint NOT NULL DEFAULT -1;
ALTER TABLE contingents ADD COLUMN version integer NOT NULL DEFAULT 0;
ALTER TABLE contingents ADD COLUMN topic_offset bigint NOT NULL DEFAULT -1;
-- Two consents recorded for one day: the later on the topic holds (domain/facts.py, Consent.order), as in
-- housing, which applies them in arrival order. NULL on rows from before: ordered among themselves by
-- occurred_at, as they were, and before every row read from now on; a rebuild fills it in.
ALTER TABLE consents ADD COLUMN topic_offset bigint;
-- Two assessments of one placement on one day: the later on the topic holds (domain/facts.py,
-- Assessment.order), as in housing; before, their order was whatever order the rows were read in.
ALTER TABLE assessments ADD COLUMN topic_offset bigint;
