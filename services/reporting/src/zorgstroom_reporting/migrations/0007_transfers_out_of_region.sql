-- Whether an accepted transfer hands the client to a municipality of the region: a registration transferred
-- out of the region waits no longer on the region's list. NULL on rows from before; a rebuild fills it in.
ALTER TABLE transfers ADD COLUMN to_in_region boolean;
